package apt

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	"pault.ag/go/debian/control"
)

const sampleIndex = `Package: libc6
Source: glibc
Version: 2.36-9+deb12u7
Installed-Size: 12986
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
Architecture: amd64
Multi-Arch: same
Replaces: libc6-amd64
Depends: libgcc-s1
Recommends: libidn2-0 (>= 2.0.5~)
Suggests: glibc-doc, debconf | debconf-2.0, libc-l10n, locales, libnss-nis, libnss-nisplus
Breaks: aide (<< 0.17.3-4+b3),
 busybox (<< 1.30.1-6),
 chrony (<< 4.2-3~)
Description: GNU C Library: Shared libraries
 Contains the standard libraries that are used by nearly all programs on
 the system.
Multi-Arch: same
Homepage: https://www.gnu.org/software/libc/libc.html
Description-md5: fc3001b0b90a1c8e6690b283a619d57f
Tag: role::shared-lib
Section: libs
Priority: optional
Filename: pool/main/g/glibc/libc6_2.36-9+deb12u7_amd64.deb
Size: 2757936
MD5sum: 39f5d4c0ba5b3e8a3b7d7e3bb0a2c53e
SHA256: 0f4b6b9a6e4e0f0a5f4a3b9e0a0d0d1a7a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d

Package: dash
Version: 0.5.12-2
Architecture: amd64
Essential: yes
Pre-Depends: libc6 (>= 2.34)
Priority: required
Section: shells
Filename: pool/main/d/dash/dash_0.5.12-2_amd64.deb
Size: 92816
SHA256: 1111111111111111111111111111111111111111111111111111111111111111
`

func TestParsePackages(t *testing.T) {
	idx := &Index{Mirror: "http://mirror.invalid/debian", Suite: "bookworm", Component: "main", Architecture: "amd64"}
	pkgs, err := ParsePackages(strings.NewReader(sampleIndex), idx)
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) != 2 {
		t.Fatalf("got %d packages, want 2", len(pkgs))
	}
	libc, dash := pkgs[0], pkgs[1]
	checks := []struct{ name, got, want string }{
		{"name", libc.Name, "libc6"},
		{"version", libc.Version, "2.36-9+deb12u7"},
		{"multi-arch", libc.MultiArch, "same"},
		{"breaks continued", libc.Breaks, "aide (<< 0.17.3-4+b3), busybox (<< 1.30.1-6), chrony (<< 4.2-3~)"},
		{"source", libc.Source, "glibc"},
		{"priority", libc.Priority, "optional"},
		{"pre-depends", dash.PreDepends, "libc6 (>= 2.34)"},
		{"url", dash.URL(), "http://mirror.invalid/debian/pool/main/d/dash/dash_0.5.12-2_amd64.deb"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, c.got, c.want)
		}
	}
	if !dash.Essential || libc.Essential {
		t.Errorf("Essential: dash %v libc6 %v", dash.Essential, libc.Essential)
	}
	if libc.Size != 2757936 || libc.InstalledSize != 12986 {
		t.Errorf("sizes: %d %d", libc.Size, libc.InstalledSize)
	}
}

func TestParsePackagesErrors(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"no version", "Package: aa\nArchitecture: amd64\n", `stanza at line 1 (Package "aa"): no Version field`},
		{"bad size", "Package: aa\nVersion: 1\nArchitecture: all\nSize: x\n", `line 4: package aa: bad Size "x"`},
		{"no colon", "Package: a\ngarbage\n", "malformed field"},
		{"orphan continuation", " x\n", "continuation line outside a stanza"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParsePackages(strings.NewReader(tc.in), &Index{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want error containing %q", err, tc.want)
			}
		})
	}
}

// syntheticIndex is an index of n stanzas shaped like Debian's.
func syntheticIndex(n int) []byte {
	var b bytes.Buffer
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "Package: pkg%d\nSource: src%d\nVersion: 1.%d-1\nInstalled-Size: %d\nMaintainer: A Maintainer <a@example.org>\nArchitecture: amd64\nDepends: libc6 (>= 2.34), pkg%d (= 1.%d-1) | other\nDescription: package number %d\n a longer description\n over two lines\nHomepage: https://example.org/\nDescription-md5: 0123456789abcdef0123456789abcdef\nSection: misc\nPriority: optional\nFilename: pool/main/p/pkg%d/pkg%d_1.%d-1_amd64.deb\nSize: %d\nMD5sum: 0123456789abcdef0123456789abcdef\nSHA256: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n\n",
			i, i, i, i, (i+1)%n, (i+1)%n, i, i, i, i, i*10+1)
	}
	return b.Bytes()
}

func BenchmarkParsePackages(b *testing.B) {
	data := syntheticIndex(60000)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := ParsePackages(bytes.NewReader(data), &Index{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParsePackagesPaultag is the library decoder on the same input:
// the reason ParsePackages is written by hand.
func BenchmarkParsePackagesPaultag(b *testing.B) {
	data := syntheticIndex(60000)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		var idx []control.BinaryIndex
		if err := control.Unmarshal(&idx, bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzParsePackages: any input gives packages or an error, never a panic,
// and every package it returns has the fields a stanza must have.
func FuzzParsePackages(f *testing.F) {
	f.Add([]byte(sampleIndex))
	f.Add([]byte(oneStanza + "\n" + oneStanza))
	f.Add([]byte("Package: a\nVersion: 1\nArchitecture: all\n\n\n"))
	f.Add([]byte("Package: a\n Depends: x\n"))
	f.Add([]byte("Package: a\r\nVersion: 1\r\nArchitecture: all\r\nSize: 10\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		pkgs, err := ParsePackages(bytes.NewReader(data), &Index{})
		// Cut into tiny chunks, the parallel parse must agree with the
		// sequential one, errors included.
		lim := limits{line: 40, stanza: 100}
		seq, serr := parseStanzas(bytes.NewReader(data), &Index{}, 0, lim)
		par, perr := parseParallel(bytes.NewReader(data), &Index{}, 3, 5, lim)
		if fmt.Sprint(serr) != fmt.Sprint(perr) || (serr == nil && !reflect.DeepEqual(seq, par)) {
			t.Fatalf("sequential: %d packages, %v; parallel: %d, %v", len(seq), serr, len(par), perr)
		}
		if err != nil {
			return
		}
		// Whatever is accepted passes the checks the rest of the
		// program relies on.
		for _, p := range pkgs {
			if checkPackageName(p.Name) != nil || checkVersion(p.Version) != nil || checkArchName(p.Architecture) != nil ||
				checkFilename(p.Filename) != nil || p.Size <= 0 || len(p.SHA256) != 64 || strings.ToLower(p.SHA256) != p.SHA256 {
				t.Fatalf("accepted an invalid stanza: %+v", p)
			}
		}
	})
}

func TestParseParallelMatchesSequential(t *testing.T) {
	var b strings.Builder
	for i := range 300 {
		fmt.Fprintf(&b, "Package: p%d\nVersion: 1.%d\nArchitecture: amd64\nDepends: a,\n b (>= %d),\n c\nDescription: x\n more\nFilename: pool/p%d.deb\nSize: %d\nSHA256: %064x\n\n", i, i, i, i, i+1, i)
	}
	text := b.String()
	want, err := parseStanzas(strings.NewReader(text), nil, 0, defaultLimits())
	if err != nil || len(want) != 300 {
		t.Fatalf("sequential: %d packages, %v", len(want), err)
	}
	bad := strings.Replace(text, "Package: p250\n", "Package: p250\nno colon here\n", 1)
	_, wantErr := parseStanzas(strings.NewReader(bad), nil, 0, defaultLimits())
	if wantErr == nil {
		t.Fatal("sequential parse accepted a malformed line")
	}
	for _, workers := range []int{1, 2, 4} {
		for _, size := range []int{1, 7, 64, 1000, 1 << 20} {
			got, err := parseParallel(strings.NewReader(text), nil, workers, size, defaultLimits())
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("workers %d, chunks of %d: %d packages, %v; want the sequential result", workers, size, len(got), err)
			}
			if _, err := parseParallel(strings.NewReader(bad), nil, workers, size, defaultLimits()); err == nil || err.Error() != wantErr.Error() {
				t.Errorf("workers %d, chunks of %d: error %v, want %v", workers, size, err, wantErr)
			}
		}
	}
	if _, err := parseParallel(iotest.ErrReader(errors.New("disk on fire")), nil, 2, 64, defaultLimits()); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("read error: %v", err)
	}
}
