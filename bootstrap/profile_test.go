package bootstrap

import (
	"testing"

	"github.com/debstrap/debstrap/apt"
	"github.com/debstrap/debstrap/deb"
	"github.com/debstrap/debstrap/distro"
)

func TestBaseFilesMergesUsr(t *testing.T) {
	for suite, want := range map[string]bool{"bullseye": false, "bookworm": false, "trixie": true, "sid": true, "jammy": false, "noble": true} {
		rel, ok := distro.Lookup(suite)
		if !ok {
			t.Fatalf("no release %s", suite)
		}
		if got := baseFilesMergesUsr(rel); got != want {
			t.Errorf("%s: %v, want %v", suite, got, want)
		}
	}
}

// The profile's status has the release index's classification, as
// debootstrap leaves it; not for a package of the pockets.
func TestIndexClass(t *testing.T) {
	c := &deb.Control{Stanza: deb.Stanza{Fields: []deb.Field{{Name: "Package", Value: "debconf"}, {Name: "Priority", Value: "important"}, {Name: "Section", Value: "admin"}}}}
	plan := &Plan{Entries: []apt.Entry{{Suite: "bookworm"}}}
	rel := &apt.Package{Name: "debconf", Priority: "required", Section: "admin", Index: &apt.Index{Suite: "bookworm"}}
	if got := indexClass(c, rel, plan).Get("Priority"); got != "required" {
		t.Errorf("release's package: Priority %s, want the index's required", got)
	}
	if c.Get("Priority") != "important" {
		t.Error("the control itself was changed")
	}
	upd := &apt.Package{Name: "debconf", Priority: "required", Index: &apt.Index{Suite: "bookworm-updates"}}
	if got := indexClass(c, upd, plan).Get("Priority"); got != "important" {
		t.Errorf("updates' package: Priority %s, want the .deb's important", got)
	}
}
