package native

import (
	"slices"
	"strings"
	"testing"
)

// TestA2enmod: apache2's postinst enables its default MPM, modules (with
// their dependencies), confs and site: relative links in *-enabled, the
// maintainer's markers under /var/lib/apache2, and refusals as a2enmod
// words them.
func TestA2enmod(t *testing.T) {
	st := newStage(t)
	put(t, st, map[string]string{
		"/etc/apache2/mods-available/mpm_event.load":    "# Conflicts: mpm_worker mpm_prefork\nLoadModule mpm_event_module x.so\n",
		"/etc/apache2/mods-available/mpm_event.conf":    "<IfModule>\n",
		"/etc/apache2/mods-available/mpm_prefork.load":  "# Conflicts: mpm_event mpm_worker\nLoadModule x\n",
		"/etc/apache2/mods-available/authn_core.load":   "LoadModule authn_core_module x.so\n",
		"/etc/apache2/mods-available/auth_basic.load":   "# Depends: authn_core\nLoadModule auth_basic_module x.so\n",
		"/etc/apache2/mods-available/cgid.load":         "LoadModule cgid_module x.so\n",
		"/etc/apache2/mods-available/cgi.load":          "LoadModule cgi_module x.so\n",
		"/etc/apache2/conf-available/charset.conf":      "# AddDefaultCharset UTF-8\n",
		"/etc/apache2/sites-available/000-default.conf": "<VirtualHost *:80>\n",
		"/etc/apache2/mods-enabled/.keep":               "",
		"/etc/apache2/conf-enabled/.keep":               "",
		"/etc/apache2/sites-enabled/.keep":              "",
	})
	s := testSys(t, st)
	out := mustSh(t, s, `set -e
a2enmod -m -q mpm_event
for m in auth_basic cgi; do a2enmod -m -q $m; done
a2enconf -m -q charset
a2ensite -q 000-default
a2enmod -q mpm_prefork || echo "prefork: $?"
a2enmod -q nosuch || echo "nosuch: $?"
a2enmod -m auth_basic
a2dismod -q authn_core || echo "dismod: $?"
`)
	for _, l := range []string{
		"Enabling module mpm_event.", "Enabling module authn_core.", "Enabling module auth_basic.",
		"Your MPM seems to be threaded. Selecting cgid instead of cgi.", "Enabling module cgid.",
		"Enabling conf charset.", "Enabling site 000-default.", "prefork: 1", "nosuch: 1",
		"Considering dependency authn_core for auth_basic:", "Module authn_core already enabled", "Module auth_basic already enabled",
		"dismod: 1",
	} {
		if !strings.Contains(out, l+"\n") {
			t.Errorf("output lacks %q:\n%s", l, out)
		}
	}
	links := map[string]string{
		"/etc/apache2/mods-enabled/mpm_event.load":    "../mods-available/mpm_event.load",
		"/etc/apache2/mods-enabled/mpm_event.conf":    "../mods-available/mpm_event.conf",
		"/etc/apache2/mods-enabled/authn_core.load":   "../mods-available/authn_core.load",
		"/etc/apache2/mods-enabled/auth_basic.load":   "../mods-available/auth_basic.load",
		"/etc/apache2/mods-enabled/cgid.load":         "../mods-available/cgid.load",
		"/etc/apache2/conf-enabled/charset.conf":      "../conf-available/charset.conf",
		"/etc/apache2/sites-enabled/000-default.conf": "../sites-available/000-default.conf",
	}
	for l, want := range links {
		if e := entry(t, st, l); e.Linkname != want {
			t.Errorf("%s → %q, want %q", l, e.Linkname, want)
		}
	}
	if _, ok := st.Lookup("/etc/apache2/mods-enabled/mpm_prefork.load"); ok {
		t.Error("mpm_prefork enabled despite the conflict")
	}
	var markers []string
	for _, e := range st.Entries() {
		if strings.HasPrefix(e.Path, "/var/lib/apache2/") && e.Type != '5' {
			markers = append(markers, e.Path)
		}
	}
	slices.Sort(markers)
	want := []string{
		"/var/lib/apache2/conf/enabled_by_maint/charset",
		"/var/lib/apache2/module/enabled_by_maint/auth_basic",
		"/var/lib/apache2/module/enabled_by_maint/authn_core",
		"/var/lib/apache2/module/enabled_by_maint/cgid",
		"/var/lib/apache2/module/enabled_by_maint/mpm_event",
		"/var/lib/apache2/site/enabled_by_admin/000-default",
	}
	if !slices.Equal(markers, want) {
		t.Errorf("markers\n%v\nwant\n%v", markers, want)
	}
}

// TestHtcachecleanDisable: apache2's postinst disables
// apache-htcacheclean: deb-systemd-helper disable removes the links its
// state records (and empty directories), update-rc.d disable turns the S
// links into K links and runs systemctl disable.
func TestHtcachecleanDisable(t *testing.T) {
	st := newStage(t)
	put(t, st, map[string]string{
		"/etc/init.d/apache-htcacheclean":                     "x:#!/bin/sh\n### BEGIN INIT INFO\n# Default-Start:     2 3 4 5\n# Default-Stop:      0 1 6\n### END INIT INFO\n",
		"/usr/lib/systemd/system/apache-htcacheclean.service": "[Service]\n[Install]\nWantedBy=multi-user.target\n",
		"/usr/bin/systemctl":                                  "x:systemd",
	})
	s := testSys(t, st)
	mustSh(t, s, `set -e
update-rc.d apache-htcacheclean defaults
deb-systemd-helper enable apache-htcacheclean.service
deb-systemd-helper debian-installed apache-htcacheclean.service
deb-systemd-helper disable apache-htcacheclean.service >/dev/null || true
update-rc.d apache-htcacheclean disable >/dev/null`)
	for _, lvl := range "2345" {
		entry(t, st, "/etc/rc"+string(lvl)+".d/K01apache-htcacheclean")
		if _, ok := st.Lookup("/etc/rc" + string(lvl) + ".d/S01apache-htcacheclean"); ok {
			t.Errorf("rc%c.d: S link left", lvl)
		}
	}
	for _, p := range []string{"/etc/systemd/system/multi-user.target.wants/apache-htcacheclean.service",
		"/var/lib/systemd/deb-systemd-helper-enabled/multi-user.target.wants/apache-htcacheclean.service"} {
		if _, ok := st.Lookup(p); ok {
			t.Errorf("%s left", p)
		}
	}
	if got := get(t, st, "/var/lib/systemd/deb-systemd-helper-enabled/apache-htcacheclean.service.dsh-also"); got != "/etc/systemd/system/multi-user.target.wants/apache-htcacheclean.service\n" {
		t.Errorf("state file %q", got)
	}
	if _, ok := st.Lookup("/etc/systemd/system/multi-user.target.wants"); ok {
		t.Error("empty multi-user.target.wants left")
	}
}
