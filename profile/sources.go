package profile

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/debstrap/debstrap/apt"
	"github.com/debstrap/debstrap/distro"
	"github.com/debstrap/debstrap/rootfs"
)

// Sources writes the image's apt sources as the official image has them.
// Debian's: one deb822 file, /etc/apt/sources.list.d/debian.sources, a
// stanza per archive holding its suites (the release, its security
// suite, its updates, as debuerreotype orders them), signed by the
// distribution's keyring in the image; no /etc/apt/sources.list.
// Ubuntu's: see ubuntuSources.
// signedBy false leaves Signed-By out (a --keyring of the user's, which
// apt then finds in trusted.gpg.d).
func (p *Profile) Sources(st *rootfs.Stage, rel distro.Release, entries []apt.Entry, signedBy bool) error {
	keyring := "/usr/share/keyrings/debian-archive-keyring"
	if rel.Distribution == distro.Ubuntu {
		keyring = "/usr/share/keyrings/ubuntu-archive-keyring"
	}
	// debian-archive-keyring ships .pgp from trixie on, .gpg before.
	switch {
	case !signedBy:
		keyring = ""
	case exists(st, keyring+".pgp"):
		keyring += ".pgp"
	case exists(st, keyring+".gpg"):
		keyring += ".gpg"
	default:
		keyring = ""
	}
	if rel.Distribution == distro.Ubuntu {
		return ubuntuSources(st, rel, entries, keyring)
	}
	if err := st.RemoveAll("/etc/apt/sources.list"); err != nil {
		return err
	}
	if err := st.MkdirAll("/etc/apt/sources.list.d", rootfs.Entry{Mode: 0o755}); err != nil {
		return err
	}
	text := deb822(sortSources(entries, rel), keyring)
	return st.WriteFile("/etc/apt/sources.list.d/debian.sources", []byte(text), rootfs.Entry{Mode: 0o644})
}

// sortSources orders entries as the official sources list them: the
// release, then its security suite, then the other pockets (updates,
// backports) in the order given, then anything else.
func sortSources(entries []apt.Entry, rel distro.Release) []apt.Entry {
	rank := func(e apt.Entry) int {
		switch {
		case distro.Base(e.Suite) != e.Suite && distro.IsSecurity(e.Suite):
			return 1
		case distro.Base(e.Suite) != e.Suite:
			return 2
		case e.Suite == rel.Codename || rel.Codename == "":
			return 0
		}
		return 3
	}
	out := slices.Clone(entries)
	slices.SortStableFunc(out, func(a, b apt.Entry) int { return cmp.Compare(rank(a), rank(b)) })
	return out
}

// deb822 groups entries by URI and components, in the order each is
// first seen, into stanzas.
func deb822(entries []apt.Entry, keyring string) string {
	type stanza struct {
		uri, comps string
		suites     []string
	}
	var list []*stanza
	for _, e := range entries {
		comps := strings.Join(e.Components, " ")
		i := slices.IndexFunc(list, func(s *stanza) bool { return s.uri == e.URI && s.comps == comps })
		if i < 0 {
			list = append(list, &stanza{uri: e.URI, comps: comps})
			i = len(list) - 1
		}
		list[i].suites = append(list[i].suites, e.Suite)
	}
	var b strings.Builder
	for i, s := range list {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "Types: deb\nURIs: %s\nSuites: %s\nComponents: %s\n", s.uri, strings.Join(s.suites, " "), s.comps)
		if keyring != "" {
			fmt.Fprintf(&b, "Signed-By: %s\n", keyring)
		}
	}
	return b.String()
}

func exists(st *rootfs.Stage, p string) bool {
	_, ok := st.Lookup(p)
	return ok
}
