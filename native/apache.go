package native

import (
	"archive/tar"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"

	"github.com/debstrap/debstrap/rootfs"
)

// a2enmod, a2dismod, a2enconf, a2disconf, a2ensite, a2dissite (apache2's
// Perl program, one for all six names): the links in *-enabled, a
// module's dependencies and conflicts, and the state markers under
// /var/lib/apache2 that apache2's scripts consult on upgrade.

func init() {
	for _, n := range []string{"a2enmod", "a2dismod", "a2enconf", "a2disconf", "a2ensite", "a2dissite"} {
		registerShared(a2Cmd, n)
	}
}

var a2NameRE = regexp.MustCompile(`^a2(en|dis)(mod|site|conf)((?:-.+)?)$`)

// a2EssentialModules are the modules a2dismod asks before disabling.
var a2EssentialModules = []string{"alias", "auth_basic", "authn_file", "authz_host", "authz_user", "autoindex",
	"deflate", "dir", "env", "filter", "logio", "mime", "negotiation", "setenvif", "unixd", "version", "watchdog"}

type a2run struct {
	c                           *cmd
	enable                      bool
	obj, name                   string // module|conf|site, Module|Conf|Site
	sffx                        string
	availdir, enabldir, statdir string
	quiet, force, maint, purge  bool
}

func a2Cmd(c *cmd) error {
	m := a2NameRE.FindStringSubmatch(path.Base(c.args[0]))
	if m == nil {
		return c.failf("%s call name unknown", path.Base(c.args[0]))
	}
	for _, v := range []string{"APACHE_CONFDIR", "APACHE_ENVVARS", "APACHE_STATE_DIRECTORY"} {
		if c.getenv(v) != "" {
			return c.unsupported("%s set", v)
		}
	}
	r := &a2run{c: c, enable: m[1] == "en"}
	confdir := "/etc/apache2" + m[3]
	dir := map[string]string{"mod": "mods", "conf": "conf", "site": "sites"}[m[2]]
	r.obj = map[string]string{"mod": "module", "conf": "conf", "site": "site"}[m[2]]
	r.name = strings.ToUpper(r.obj[:1]) + r.obj[1:]
	r.sffx = ".conf"
	if m[2] == "mod" {
		r.sffx = ".load"
	}
	r.availdir, r.enabldir = confdir+"/"+dir+"-available", confdir+"/"+dir+"-enabled"
	r.statdir = "/var/lib/apache2/" + r.obj
	var names []string
	for _, a := range c.args[1:] {
		if len(a) > 1 && a[0] == '-' && a[1] != '-' {
			for _, f := range a[1:] {
				switch f {
				case 'q':
					r.quiet = true
				case 'f':
					r.force = true
				case 'm':
					r.maint = true
				case 'p':
					r.purge = true
				default:
					return c.failf("Unknown option: %c", f)
				}
			}
			continue
		}
		switch a {
		case "--quiet":
			r.quiet = true
		case "--force":
			r.force = true
		case "--maintmode":
			r.maint = true
		case "--purge":
			r.purge = true
		default:
			names = append(names, a)
		}
	}
	if len(names) == 0 {
		return c.unsupported("%s without a name (it asks)", path.Base(c.args[0]))
	}
	rc := 0
	var objs []string
	for _, a := range names {
		a = strings.TrimSuffix(a, r.sffx)
		g, err := r.glob(a)
		if err != nil {
			return err
		}
		if len(g) == 0 {
			fmt.Fprintf(c.stderr, "ERROR: No %s found matching %s!\n", r.obj, a)
			rc = 1
		}
		objs = append(objs, g...)
	}
	for _, o := range objs {
		ok, err := r.doit(o)
		if err != nil {
			return err
		}
		if !ok {
			rc = 1
		}
	}
	return status(rc)
}

func (r *a2run) info(format string, a ...any) {
	if !r.quiet {
		fmt.Fprintf(r.c.stdout, format, a...)
	}
}

func (r *a2run) errorf(format string, a ...any) {
	fmt.Fprintf(r.c.stderr, "ERROR: "+format, a...)
}

// glob is myglob: the names in the directory chosen from that match.
func (r *a2run) glob(arg string) ([]string, error) {
	choice := r.enabldir
	if r.enable {
		choice = r.availdir
	}
	var out []string
	for _, p := range r.c.s.glob(choice + "/" + arg + r.sffx) {
		out = append(out, strings.TrimSuffix(path.Base(p), r.sffx))
	}
	sort.Strings(out)
	return out, nil
}

// exists is Perl's -e (following links); isLink its -l.
func (r *a2run) exists(p string) bool { _, ok := r.c.s.lookup(p); return ok }
func (r *a2run) isLink(p string) bool { return r.c.s.isSymlink(p) }

func (r *a2run) doit(acton string) (bool, error) {
	var conftgt, conflink string
	if r.obj == "module" {
		if r.enable && acton == "cgi" {
			threaded, err := r.threaded()
			if err != nil {
				return false, err
			}
			if threaded {
				fmt.Fprintf(r.c.stdout, "Your MPM seems to be threaded. Selecting cgid instead of cgi.\n")
				acton = "cgid"
			}
		}
		conftgt = r.availdir + "/" + acton + ".conf"
		if r.exists(conftgt) {
			conflink = r.enabldir + "/" + acton + ".conf"
		}
	}
	tgt, link := r.availdir+"/"+acton+r.sffx, r.enabldir+"/"+acton+r.sffx
	if !r.exists(tgt) {
		if r.isLink(link) && !r.exists(link) {
			if !r.enable {
				r.info("removing dangling symlink %s\n", link)
				if err := r.remove(link); err != nil {
					return false, err
				}
				conflink = r.enabldir + "/" + acton + ".conf"
				if r.isLink(conflink) && !r.exists(conflink) {
					r.info("removing dangling symlink %s\n", conflink)
					if err := r.remove(conflink); err != nil {
						return false, err
					}
				}
				return true, nil
			}
			r.errorf("%s is a dangling symlink!\n", link)
		}
		if r.purge {
			return r.marker(acton)
		}
		r.errorf("%s %s does not exist!\n", r.name, acton)
		return false, nil
	}
	if r.obj == "module" {
		if r.enable {
			for _, d := range r.deps(tgt, "Depends") {
				r.info("Considering dependency %s for %s:\n", d, acton)
				ok, err := r.doit(d)
				if err != nil || !ok {
					if err == nil {
						r.errorf("Could not enable dependency %s for %s, aborting\n", d, acton)
					}
					return false, err
				}
			}
			bad := false
			for _, d := range r.deps(tgt, "Conflicts") {
				r.info("Considering conflict %s for %s:\n", d, acton)
				check, err := r.check(r.availdir+"/"+d+r.sffx, r.enabldir+"/"+d+r.sffx)
				if err != nil {
					return false, err
				}
				if check == "ok" {
					r.errorf("Module %s is enabled - cannot proceed due to conflicts. It needs to be disabled first!\n", d)
					bad = true
				}
			}
			if bad {
				return false, nil
			}
		} else {
			var depending []string
			for _, d := range r.c.s.glob(r.enabldir + "/*.load") {
				if contains(r.deps(d, "Depends"), acton) {
					depending = append(depending, strings.TrimSuffix(path.Base(d), ".load"))
				}
			}
			if len(depending) > 0 {
				if !r.force {
					r.errorf("The following modules depend on %s and need to be disabled first: %s\n", acton, strings.Join(depending, " "))
					return false, nil
				}
				for _, d := range depending {
					r.info("Considering dependency %s for %s:\n", d, acton)
					if ok, err := r.doit(d); err != nil || !ok {
						return false, err
					}
				}
			}
		}
	} else if r.enable {
		for _, d := range r.deps(tgt, "Depends") {
			r.info("Checking dependency %s for %s:\n", d, acton)
			if !r.exists("/etc/apache2/mods-enabled/" + d + ".load") {
				fmt.Fprintf(r.c.stderr, "WARNING: Module %s is not enabled, but %s depends on it, aborting\n", d, acton)
				return false, nil
			}
		}
	}
	if !r.enable {
		if r.exists(link) || r.isLink(link) {
			if r.obj == "module" && contains(a2EssentialModules, acton) && !r.force {
				return false, r.c.unsupported("disabling the essential module %s (a2dismod asks)", acton)
			}
			if err := r.remove(link); err != nil {
				return false, err
			}
			if conflink != "" && r.exists(conflink) {
				if err := r.remove(conflink); err != nil {
					return false, err
				}
			}
			if _, err := r.marker(acton); err != nil {
				return false, err
			}
			fmt.Fprintf(r.c.stdout, "%s %s disabled.\n", r.name, acton)
		} else if conflink != "" && r.exists(conflink) {
			fmt.Fprintf(r.c.stdout, "Disabling stale config file %s.conf.\n", acton)
			if err := r.remove(conflink); err != nil {
				return false, err
			}
		} else {
			r.info("%s %s already disabled\n", r.name, acton)
			if r.purge {
				return r.marker(acton)
			}
		}
		return true, nil
	}
	check, err := r.check(tgt, link)
	if err != nil {
		return false, err
	}
	switch check {
	case "ok":
		if conflink == "" {
			r.info("%s %s already enabled\n", r.name, acton)
			return true, nil
		}
		confcheck, err := r.check(conftgt, conflink)
		if err != nil {
			return false, err
		}
		switch confcheck {
		case "ok":
			r.info("%s %s already enabled\n", r.name, acton)
			return true, nil
		case "missing":
			fmt.Fprintf(r.c.stdout, "Enabling config file %s.conf.\n", acton)
			return true, r.link(conftgt, conflink)
		}
		r.errorf("Config file %s.conf not properly enabled: %s\n", acton, confcheck)
		return false, nil
	case "missing":
		if conflink != "" {
			confcheck, err := r.check(conftgt, conflink)
			if err != nil {
				return false, err
			}
			if confcheck == "missing" {
				if err := r.link(conftgt, conflink); err != nil {
					return false, err
				}
			} else if confcheck != "ok" {
				r.errorf("Config file %s.conf not properly enabled: %s\n", acton, confcheck)
				return false, nil
			}
		}
		fmt.Fprintf(r.c.stdout, "Enabling %s %s.\n", r.obj, acton)
		if r.obj == "module" && acton == "cache_disk" {
			return false, r.c.unsupported("enabling cache_disk (it enables apache-htcacheclean)")
		}
		if r.obj == "module" && acton == "ssl" {
			r.info("See /usr/share/doc/apache2/README.Debian.gz on how to configure SSL and create self-signed certificates.\n")
		}
		if err := r.link(tgt, link); err != nil {
			return false, err
		}
		return r.marker(acton)
	}
	r.errorf("%s %s not properly enabled: %s\n", r.name, acton, check)
	return false, nil
}

// deps is get_deps: the "# Depends:" (or Conflicts) line of the comment
// block that opens file.
func (r *a2run) deps(file, typ string) []string {
	data, err := r.c.s.readFile(file)
	if err != nil {
		r.errorf("Can't open %s: %v", file, errText(err))
		return nil
	}
	prefix := "# " + typ + ":"
	for _, l := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(l, prefix); ok && rest != "" && (rest[0] == ' ' || rest[0] == '\t') {
			return strings.Fields(rest)
		}
		if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "#") {
			break
		}
	}
	return nil
}

// check is check_link.
func (r *a2run) check(tgt, link string) (string, error) {
	if !r.exists(link) {
		if r.isLink(link) {
			r.info("Removing dangling link %s", link)
			if err := r.remove(link); err != nil {
				return "", err
			}
		}
		return "missing", nil
	}
	if !r.isLink(link) {
		return link + " is a real file, not touching it", nil
	}
	a, _, _, err1 := r.c.s.resolve("/", link, true)
	b, _, _, err2 := r.c.s.resolve("/", tgt, true)
	if err1 != nil || err2 != nil || a != b {
		return link + " exists but does not point to " + tgt + ", not touching it", nil
	}
	return "ok", nil
}

// link is add_link: a relative symlink.
func (r *a2run) link(tgt, link string) error {
	rel, _ := relPath(path.Dir(link), tgt) // File::Spec->abs2rel
	real, _, _, err := r.c.s.resolve("/", link, false)
	if err != nil {
		return r.c.failf("Could not create %s: %v", link, errText(err))
	}
	if err := r.c.s.st.Symlink(rel, real, rootfs.Entry{Mode: 0o777}); err != nil {
		return &stageError{err}
	}
	return nil
}

func (r *a2run) remove(p string) error {
	real, _, ok, err := r.c.s.resolve("/", p, false)
	if err != nil || !ok {
		return nil
	}
	if err := r.c.s.st.Remove(real); err != nil {
		return &stageError{err}
	}
	return nil
}

// marker is switch_marker: the one file named acton under the state
// directory, in (en|dis)abled_by_(maint|admin).
func (r *a2run) marker(acton string) (bool, error) {
	mode := "admin"
	if r.maint {
		mode = "maint"
	}
	what := "disabled"
	if r.enable {
		what = "enabled"
	}
	dir := r.statdir + "/" + what + "_by_" + mode
	if err := r.c.s.st.MkdirAll(dir, rootfs.Entry{Mode: 0o777 &^ r.c.run.umask}); err != nil {
		return false, &stageError{err}
	}
	for _, sub := range []string{"enabled_by_maint", "enabled_by_admin", "disabled_by_maint", "disabled_by_admin"} {
		p := r.statdir + "/" + sub + "/" + acton
		if e, ok := r.c.s.st.Lookup(p); ok && e.Type != tar.TypeDir && e.Type != tar.TypeSymlink {
			if err := r.remove(p); err != nil {
				return false, err
			}
		}
	}
	if r.purge {
		return true, nil
	}
	if err := r.c.s.st.WriteFile(dir+"/"+acton, nil, rootfs.Entry{Mode: 0o666 &^ r.c.run.umask}); err != nil {
		return false, &stageError{err}
	}
	return true, nil
}

// threaded is a2enmod's threaded() without apache2ctl: from the MPM
// module enabled.
func (r *a2run) threaded() (bool, error) {
	switch {
	case r.exists(r.enabldir + "/mpm_prefork.load"):
		return false, nil
	case r.exists(r.enabldir+"/mpm_worker.load") || r.exists(r.enabldir+"/mpm_event.load"):
		return true, nil
	}
	return false, r.c.unsupported("a2enmod cgi with no MPM enabled")
}
