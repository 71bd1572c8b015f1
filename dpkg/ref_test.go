package dpkg

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// TestReferenceRoot compares the database written for a set of .debs with
// the one dpkg left in a root built from the same .debs by mmdebstrap.
// It needs both, so it runs only when told where they are:
//
//	DEBSTRAP_DPKG_REF_ROOT=/tmp/ref-root   (mmdebstrap --variant=minbase …)
//	DEBSTRAP_DPKG_REF_DEBS=/tmp/debs       (the same versions, apt-get download)
//	DEBSTRAP_DPKG_REF_STATE=unpacked       (optional: a root where dpkg --unpack
//	                                        ran but not --configure)
//
// What only running maintainer scripts produces (alternatives, the
// -old backups) is left out; dash's diversions are added by hand, as
// native configuration will.
func TestReferenceRoot(t *testing.T) {
	ref, debs := os.Getenv("DEBSTRAP_DPKG_REF_ROOT"), os.Getenv("DEBSTRAP_DPKG_REF_DEBS")
	if ref == "" || debs == "" {
		t.Skip("DEBSTRAP_DPKG_REF_ROOT and DEBSTRAP_DPKG_REF_DEBS not set")
	}
	paths, err := filepath.Glob(filepath.Join(debs, "*.deb"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no .deb in %s: %v", debs, err)
	}
	sort.Strings(paths)
	arch, err := os.ReadFile(filepath.Join(ref, "var/lib/dpkg/arch"))
	if err != nil {
		t.Fatal(err)
	}
	db := New(strings.TrimSpace(string(arch)))
	state := Installed
	if os.Getenv("DEBSTRAP_DPKG_REF_STATE") == "unpacked" {
		state = Unpacked
	}
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		pk := readPackage(t, f, p, state)
		f.Close()
		if err := db.Add(pk); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []Diversion{
		{Path: "/bin/sh", Divert: "/bin/sh.distrib", Package: "dash"},
		{Path: "/usr/share/man/man1/sh.1.gz", Divert: "/usr/share/man/man1/sh.distrib.1.gz", Package: "dash"},
	} {
		if state == Unpacked {
			break // dash's postinst makes them
		}
		if err := db.AddDiversion(d); err != nil {
			t.Fatal(err)
		}
	}
	out := t.TempDir()
	if err := db.Write(dirRoot(out)); err != nil {
		t.Fatal(err)
	}
	skip := func(rel string) bool {
		return rel == "status-old" || rel == "diversions-old" || strings.HasPrefix(rel, "alternatives/") || rel == "parts"
	}
	diffTrees(t, filepath.Join(ref, "var/lib/dpkg"), filepath.Join(out, "var/lib/dpkg"), skip)
}

// diffTrees reports every path whose presence, type, mode or content
// differs between two directories.
func diffTrees(t *testing.T, want, got string, skip func(string) bool) {
	t.Helper()
	type node struct {
		mode fs.FileMode
		data []byte
	}
	load := func(root string) map[string]node {
		m := map[string]node{}
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			if rel == "." || skip(filepath.ToSlash(rel)) {
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			n := node{mode: info.Mode()}
			if info.Mode().IsRegular() {
				if n.data, err = os.ReadFile(p); err != nil {
					return err
				}
			}
			m[filepath.ToSlash(rel)] = n
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	w, g := load(want), load(got)
	var names []string
	for n := range w {
		names = append(names, n)
	}
	for n := range g {
		if _, ok := w[n]; !ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	bad := 0
	for _, n := range names {
		wn, inW := w[n]
		gn, inG := g[n]
		switch {
		case !inG:
			t.Errorf("%s: missing", n)
		case !inW:
			t.Errorf("%s: not in the reference", n)
		case wn.mode != gn.mode:
			t.Errorf("%s: mode %v, want %v", n, gn.mode, wn.mode)
		case !bytes.Equal(wn.data, gn.data):
			t.Errorf("%s: content differs:\n%s", n, firstDiff(string(wn.data), string(gn.data)))
		default:
			continue
		}
		if bad++; bad > 30 {
			t.Fatal("too many differences")
		}
	}
}

// firstDiff shows the first differing line of two texts.
func firstDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var a, b string
		if i < len(wl) {
			a = wl[i]
		}
		if i < len(gl) {
			b = gl[i]
		}
		if a != b {
			return "line " + strconv.Itoa(i+1) + ":\n  want: " + a + "\n  got:  " + b
		}
	}
	return "(same lines, different bytes)"
}
