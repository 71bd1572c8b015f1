package native

import (
	"fmt"
	"strings"
	"testing"

	"github.com/debstrap/debstrap/dpkg"
	"github.com/debstrap/debstrap/internal/testarchive"
)

// TestFailedScriptUndone: a postinst that does a little of everything and
// then fails leaves the root exactly as a postinst that fails at once:
// files, links, accounts, alternatives, diversions, debconf, triggers,
// the names mktemp gives later, the ids later packages get. So dpkg's
// run (auto mode, or the user's dpkg --configure -a) starts it afresh.
func TestFailedScriptUndone(t *testing.T) {
	effects := `#!/bin/sh
set -e
. /usr/share/debconf/confmodule
db_set bad/q yes
db_input high bad/q || true
db_go
groupadd --system badgroup
useradd --system -g badgroup -d /nonexistent -s /usr/sbin/nologin baduser
update-alternatives --install /usr/bin/bad-alt bad-alt /usr/bin/victim 10
dpkg-divert --package bad --rename --divert /usr/bin/victim.real --add /usr/bin/victim
ln -sf /nowhere /etc/victim-link
rm /etc/victim.conf
mv /etc/victim.keep /etc/victim.moved
chmod 4755 /usr/bin/victim-tool
mkdir -p /var/lib/bad/sub
echo data > /var/lib/bad/sub/file
mktemp
dpkg-trigger /usr/share/shells.d
frobnicate --now
`
	build := func(t *testing.T, postinst string) (*installed, *Report) {
		tools := toolbox("update-alternatives", "dpkg-divert", "ln", "cat", "dpkg-trigger", "echo", "groupadd", "useradd",
			"rm", "mv", "chmod", "mkdir", "mktemp")
		basePasswd := testarchive.NewDeb("base-passwd", "3.6.1", "Essential: yes")
		basePasswd.Files = []testarchive.File{{Path: "etc/passwd", Body: []byte("root:x:0:0:root:/root:/bin/sh\n")},
			{Path: "etc/group", Body: []byte("root:x:0:\n")}, {Path: "tmp/"}}
		debconf := testarchive.NewDeb("debconf", "1.5.82", "Essential: yes")
		debconf.Files = []testarchive.File{{Path: "usr/share/debconf/confmodule", Body: []byte("# debconf's, never read\n")}}
		shells := testarchive.NewDeb("shells", "1", "Essential: yes")
		shells.Files = []testarchive.File{{Path: "usr/share/shells.d/"}}
		shells.Scripts = map[string]string{
			"triggers": "interest-noawait /usr/share/shells.d\n",
			"postinst": "#!/bin/sh\nset -e\necho \"$1 $2\" >> /etc/shells.log\n",
		}
		victim := testarchive.NewDeb("victim", "1", "Essential: yes")
		victim.Files = []testarchive.File{binFile("usr/bin/victim"), binFile("usr/bin/victim-tool"),
			{Path: "etc/victim.conf", Body: []byte("conf\n")}, {Path: "etc/victim.keep", Body: []byte("keep\n")}}
		bad := testarchive.NewDeb("bad", "1", "Depends: debconf, victim, shells")
		bad.Scripts = map[string]string{
			"templates": "Template: bad/q\nType: boolean\nDefault: false\nDescription: Really?\n",
			"postinst":  postinst,
		}
		debs := []testarchive.Deb{tools, basePasswd, debconf, shells, victim, bad}
		// Packages configured around bad: what they allocate must not
		// depend on what bad did before failing.
		for _, n := range []string{"aa", "bb", "cc", "dd", "ee", "ff"} {
			d := testarchive.NewDeb(n, "1")
			d.Scripts = map[string]string{"postinst": fmt.Sprintf("#!/bin/sh\nset -e\nuseradd --system %suser\nmktemp > /etc/%s.tmpname\n", n, n)}
			debs = append(debs, d)
		}
		in := unpack(t, debs...)
		return in, in.configure(t)
	}
	undone, rep := build(t, effects)
	clean, repClean := build(t, "#!/bin/sh\nexit 1\n")

	var bad Failure
	for _, f := range rep.Failed {
		if f.Package == "bad" {
			bad = f
		}
	}
	if bad.Package == "" || !bad.Undone || bad.State != dpkg.Unpacked {
		t.Fatalf("bad: %+v (failed %v)", bad, rep.Failed)
	}
	if len(rep.Failed) != len(repClean.Failed) || strings.Join(rep.Configured, " ") != strings.Join(repClean.Configured, " ") {
		t.Errorf("configured %v, failed %v; want %v, %v", rep.Configured, rep.Failed, repClean.Configured, repClean.Failed)
	}
	describe := func(in *installed) map[string]string {
		out := map[string]string{}
		for _, e := range in.st.Entries() {
			if strings.HasPrefix(e.Path, "/var/lib/dpkg/info/bad.") {
				continue // the scripts differ
			}
			d := fmt.Sprintf("%c %o %d:%d %q %d", e.Type, e.Mode, e.Uid, e.Gid, e.Linkname, e.Size)
			if e.Type == '0' {
				d += " " + get(t, in.st, e.Path)
			}
			out[e.Path] = d
		}
		return out
	}
	got, want := describe(undone), describe(clean)
	for p, w := range want {
		if g, ok := got[p]; !ok {
			t.Errorf("%s missing", p)
		} else if g != w {
			t.Errorf("%s:\n%s\nwant\n%s", p, g, w)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("%s left by the failed script", p)
		}
	}
	// The same checks mean something only if the effects took place.
	if !strings.Contains(get(t, clean.st, "/etc/passwd"), "aauser:x:") || len(repClean.Failed) != 1 {
		t.Errorf("failed %v, passwd:\n%s", repClean.Failed, get(t, clean.st, "/etc/passwd"))
	}
}
