package deb

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzParseStanza: any text gives a stanza or an error, never a panic;
// an accepted stanza has fields with names and no name twice.
func FuzzParseStanza(f *testing.F) {
	f.Add([]byte(defaultControl))
	f.Add([]byte("Package: a\n\nPackage: b\n"))
	f.Add([]byte(" x\nA: b\n"))
	f.Add([]byte("A:\n b\n .\n\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseStanza(data)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, fl := range s.Fields {
			k := strings.ToLower(fl.Name)
			if fl.Name == "" || seen[k] || strings.ContainsAny(fl.Name, ": \t\n") {
				t.Fatalf("accepted field %q in %+v", fl.Name, s.Fields)
			}
			seen[k] = true
		}
	})
}

// FuzzParseControlArchive: a hostile control.tar (entries, names, types,
// sizes, control file, conffiles, md5sums) gives a Control or an error.
func FuzzParseControlArchive(f *testing.F) {
	f.Add(buildTar(f, []tfile{{Name: "./", Type: '5'}, {Name: "./control", Body: defaultControl}}))
	f.Add(buildTar(f, append([]tfile{{Name: "./control", Body: defaultControl}}, sampleControlMore...)))
	f.Add(buildTar(f, []tfile{{Name: "./control", Body: defaultControl}, {Name: "./conffiles", Body: "/etc/a\nremove-on-upgrade /etc/b\n"},
		{Name: "./md5sums", Body: "0123456789abcdef0123456789abcdef  usr/bin/a\n"}}))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseControlArchive(bytes.NewReader(data))
		if err != nil {
			return
		}
		if c.Get("Package") == "" {
			t.Fatal("accepted a control file without Package")
		}
		for name := range c.Files {
			if strings.Contains(name, "/") || name == "." || name == ".." || name == "" {
				t.Fatalf("accepted control member %q", name)
			}
		}
		for _, p := range append(c.Conffiles, c.RemoveOnUpgrade...) {
			if !strings.HasPrefix(p, "/") {
				t.Fatalf("accepted conffile %q", p)
			}
		}
	})
}
