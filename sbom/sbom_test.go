package sbom

import (
	"archive/tar"
	"bytes"
	"context"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdxlib"

	"github.com/debstrap/debstrap/manifest"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// The copyright files of the fixture root.
const (
	// Machine-readable, two Files stanzas with three licenses, a header
	// License, a stand-alone License paragraph (not counted itself).
	libc6Copyright = `Format: https://www.example.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: GNU C Library
Source: https://www.gnu.org/software/libc/

Files: *
Copyright: 1991-2023 Free Software Foundation, Inc.
License: LGPL-2.1+
 This library is free software; you can redistribute it and/or
 modify it under the terms of the GNU Lesser General Public
 License: as the continuation of a license text, not a field.

Files: timezone/*
Copyright: public domain
License: public-domain

Files: debian/*
Copyright: 1997-2023 The Debian GNU C Library maintainers
License: GPL-2+ or Artistic, and BSD-3-clause

License: GPL-2
 The text of a stand-alone license paragraph.
`
	// Machine-readable, shared with libgcc-s1 by a doc dir symlink.
	gccCopyright = `Format: http://www.example.org/doc/packaging-manuals/copyright-format/1.0/

Files: *
Copyright: Free Software Foundation
License: GPL-3+ with GCC-runtime-library exception

Files: libiberty/*
Copyright: Free Software Foundation
License: gpl-2+ with autoconf exception and MPL-1.1+

Files: contrib/*
License: Expat
`
	// Not machine-readable.
	baseFilesCopyright = `This is the Debian prepackaged version of the Debian Base System
Miscellaneous files.

License: GPL (not a machine-readable copyright file)
`
	mawkCopyright = `Format: https://www.example.org/doc/packaging-manuals/copyright-format/1.0/

Files: *
Copyright: 2008-2020 Thomas E. Dickey
License: GPL-2

Files: debian/*
License: Expat
`
	osReleaseText = `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
`
)

// member is a file (content) or symlink (link) of the fixture root.
type member struct {
	path, content, link string
}

func fixture(t *testing.T) []member {
	status, err := os.ReadFile("testdata/status")
	if err != nil {
		t.Fatal(err)
	}
	return []member{
		{path: "etc/os-release", link: "../usr/lib/os-release"},
		{path: "usr/lib/os-release", content: osReleaseText},
		{path: "usr/share/doc/base-files/copyright", content: baseFilesCopyright},
		{path: "usr/share/doc/gcc-12-base/copyright", content: gccCopyright},
		{path: "usr/share/doc/libc6/copyright", content: libc6Copyright},
		{path: "usr/share/doc/libgcc-s1", link: "gcc-12-base"},
		{path: "usr/share/doc/mawk/copyright", content: mawkCopyright},
		{path: "var/lib/dpkg/status", content: string(status)},
	}
}

// writeRoot writes members to a new directory.
func writeRoot(t *testing.T, members []member) string {
	t.Helper()
	dir := t.TempDir()
	for _, m := range members {
		p := filepath.Join(dir, m.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		if m.link != "" {
			err = os.Symlink(m.link, p)
		} else {
			err = os.WriteFile(p, []byte(m.content), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// writeTar writes members as a tar of a root.
func writeTar(t *testing.T, members []member) string {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	for _, m := range members {
		for d := filepath.Dir(m.path); d != "."; d = filepath.Dir(d) {
			dirs[d] = true
		}
	}
	for _, d := range slices.Sorted(func(yield func(string) bool) {
		for d := range dirs {
			if !yield(d) {
				return
			}
		}
	}) {
		tw.WriteHeader(&tar.Header{Name: "./" + d + "/", Typeflag: tar.TypeDir, Mode: 0o755})
	}
	for _, m := range members {
		h := &tar.Header{Name: "./" + m.path, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(m.content))}
		if m.link != "" {
			h = &tar.Header{Name: "./" + m.path, Typeflag: tar.TypeSymlink, Mode: 0o777, Linkname: m.link}
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(m.content))
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "root.tar")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

var testOptions = Options{Version: "1.0-test", Created: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)}

func collectFixture(t *testing.T) *Doc {
	t.Helper()
	d, err := Collect(os.DirFS(writeRoot(t, fixture(t))))
	if err != nil {
		t.Fatal(err)
	}
	d.SetDebSHA256(map[string]string{
		"libc6:amd64": "3C2B4E0F6A1D9E8B7C6A5F4E3D2C1B0A99887766554433221100FFEEDDCCBBAA",
		"nope:amd64":  "00",
	})
	return d
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it):\n%s", name, got)
	}
}

func TestGolden(t *testing.T) {
	d := collectFixture(t)
	for _, tc := range []struct {
		format Format
		file   string
	}{
		{SPDX, "root.spdx.json"},
		{CycloneDX, "root.cdx.json"},
	} {
		t.Run(string(tc.format), func(t *testing.T) {
			got, err := Bytes(d, tc.format, testOptions)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tc.file, got)
			again, err := Bytes(collectFixture(t), tc.format, testOptions)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, again) {
				t.Error("the same root gave different documents")
			}
		})
	}
}

func TestCollect(t *testing.T) {
	d := collectFixture(t)
	var keys []string
	for _, p := range d.Packages {
		keys = append(keys, p.Key())
	}
	wantKeys := []string{"base-files:amd64", "curl:amd64", "gcc-12-base:amd64", "libc6:amd64", "libgcc-s1:amd64", "mawk:amd64"}
	if !slices.Equal(keys, wantKeys) {
		t.Errorf("packages %v, want %v", keys, wantKeys)
	}
	byName := map[string]Package{}
	for _, p := range d.Packages {
		byName[p.Name] = p
	}
	gcc := []string{"(GPL-2.0-or-later WITH Autoconf-exception-2.0) AND MPL-1.1+", "GPL-3.0-or-later WITH GCC-exception-3.1", "MIT"}
	for _, tc := range []struct {
		name     string
		licenses []string
		depends  []string
		purl     string
	}{
		{"base-files", nil, nil, "pkg:deb/debian/base-files@12.4%2Bdeb12u5?arch=amd64&distro=debian-12"},
		{"libc6", []string{"(GPL-2.0-or-later OR Artistic-1.0-Perl) AND BSD-3-Clause", "LGPL-2.1-or-later", "LicenseRef-public-domain"},
			[]string{"libgcc-s1:amd64"}, "pkg:deb/debian/libc6@2.36-9%2Bdeb12u7?arch=amd64&distro=debian-12&upstream=glibc"},
		{"libgcc-s1", gcc, []string{"gcc-12-base:amd64", "libc6:amd64"},
			"pkg:deb/debian/libgcc-s1@12.2.0-14%2Bb1?arch=amd64&distro=debian-12&upstream=gcc-12%4012.2.0-14"},
		{"gcc-12-base", gcc, nil, "pkg:deb/debian/gcc-12-base@12.2.0-14?arch=amd64&distro=debian-12&upstream=gcc-12"},
		{"mawk", []string{"GPL-2.0-only", "MIT"}, []string{"libc6:amd64"}, "pkg:deb/debian/mawk@1.3.4.20200120-3.1?arch=amd64&distro=debian-12"},
		// libcurl4 is not there; base-files Provides base without a
		// version, which a versioned relation does not accept; libgcc-s1
		// Provides libgcc1 (= 1:12.2.0-14), which it does.
		{"curl", nil, []string{"libc6:amd64", "libgcc-s1:amd64", "mawk:amd64"}, "pkg:deb/debian/curl@7.88.1-10%2Bdeb12u8?arch=amd64&distro=debian-12"},
	} {
		p := byName[tc.name]
		if !slices.Equal(p.Licenses, tc.licenses) {
			t.Errorf("%s: licenses %q, want %q", tc.name, p.Licenses, tc.licenses)
		}
		if !slices.Equal(p.Depends, tc.depends) {
			t.Errorf("%s: depends %q, want %q", tc.name, p.Depends, tc.depends)
		}
		if p.PURL != tc.purl {
			t.Errorf("%s: purl %s, want %s", tc.name, p.PURL, tc.purl)
		}
	}
	if s := byName["curl"].Status; s != "unpacked" {
		t.Errorf("curl's status %q, want unpacked", s)
	}
	if s := byName["libc6"].SHA256; s != "3c2b4e0f6a1d9e8b7c6a5f4e3d2c1b0a99887766554433221100ffeeddccbbaa" {
		t.Errorf("libc6's SHA256 %q", s)
	}
	if want := map[string]string{"LicenseRef-public-domain": "public-domain"}; !reflect.DeepEqual(d.LicenseRefs, want) {
		t.Errorf("license refs %v, want %v", d.LicenseRefs, want)
	}
}

// An image read by manifest (a tar; an OCI layout whose second layer
// changes a copyright file and whites out another) gives what the
// directory gives.
func TestReadImage(t *testing.T) {
	ctx := context.Background()
	members := fixture(t)
	fromDir, err := Collect(os.DirFS(writeRoot(t, members)))
	if err != nil {
		t.Fatal(err)
	}
	fromTar, err := Read(ctx, writeTar(t, members))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fromDir, fromTar) {
		t.Errorf("tar:\n%+v\ndirectory:\n%+v", fromTar, fromDir)
	}

	files, err := manifest.ReadFiles(ctx, writeTar(t, members), Wanted)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := files.ReadFile("usr/share/doc/libgcc-s1/copyright"); err == nil {
		t.Error("manifest.Files followed a symlink itself")
	}
	if d, err := Collect(files); err != nil || !reflect.DeepEqual(d, fromDir) {
		t.Errorf("Collect(manifest.Files): %v", err)
	}
}

func TestCollectFS(t *testing.T) {
	status, err := os.ReadFile("testdata/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		files fstest.MapFS
		check func(t *testing.T, d *Doc)
		err   string
	}{
		{
			name:  "no status",
			files: fstest.MapFS{"etc/os-release": {Data: []byte(osReleaseText)}},
			err:   "var/lib/dpkg/status: no dpkg database",
		},
		{
			name: "ubuntu",
			files: fstest.MapFS{
				"var/lib/dpkg/status": {Data: []byte("Package: bash\nStatus: install ok installed\nArchitecture: arm64\nVersion: 5.2.21-2ubuntu4\n")},
				"etc/os-release":      {Data: []byte("ID=ubuntu\nVERSION_ID=\"24.04\"\nVERSION_CODENAME=noble\n")},
			},
			check: func(t *testing.T, d *Doc) {
				if got, want := d.Packages[0].PURL, "pkg:deb/ubuntu/bash@5.2.21-2ubuntu4?arch=arm64&distro=ubuntu-24.04"; got != want {
					t.Errorf("purl %s, want %s", got, want)
				}
			},
		},
		{
			name: "testing has no VERSION_ID",
			files: fstest.MapFS{
				"var/lib/dpkg/status": {Data: []byte("Package: bash\nStatus: install ok installed\nArchitecture: amd64\nVersion: 5.2.37-1\n")},
				"usr/lib/os-release":  {Data: []byte("PRETTY_NAME=\"Debian GNU/Linux trixie/sid\"\nID=debian\nVERSION_CODENAME=trixie\n")},
			},
			check: func(t *testing.T, d *Doc) {
				if got, want := d.Packages[0].PURL, "pkg:deb/debian/bash@5.2.37-1?arch=amd64&distro=debian-trixie"; got != want {
					t.Errorf("purl %s, want %s", got, want)
				}
			},
		},
		{
			// Links are followed inside the root: an absolute target
			// starts at the root, ".." stops there.
			name: "links stay in the root",
			files: fstest.MapFS{
				"var/lib/dpkg/status":           {Data: status},
				"etc/os-release":                {Data: []byte("/../../../usr/lib/os-release"), Mode: fs.ModeSymlink},
				"usr/lib/os-release":            {Data: []byte(osReleaseText)},
				"usr/share/doc/mawk":            {Data: []byte("../../../../../../usr/share/doc/libc6"), Mode: fs.ModeSymlink},
				"usr/share/doc/libc6/copyright": {Data: []byte(libc6Copyright)},
				"usr/share/doc/curl":            {Data: []byte("/usr/share/doc/curl"), Mode: fs.ModeSymlink}, // a loop
			},
			check: func(t *testing.T, d *Doc) {
				if d.OS.VersionID != "12" {
					t.Errorf("os-release not read: %+v", d.OS)
				}
				for _, p := range d.Packages {
					if p.Name == "mawk" && len(p.Licenses) != 3 {
						t.Errorf("mawk's licenses %q, want libc6's", p.Licenses)
					}
				}
			},
			err: "too many levels of symbolic links",
		},
		{
			name: "not a regular file",
			files: fstest.MapFS{
				"var/lib/dpkg/status":          {Data: []byte("Package: mawk\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1\n")},
				"usr/share/doc/mawk/copyright": {Mode: fs.ModeNamedPipe},
			},
			check: func(t *testing.T, d *Doc) {
				if d.Packages[0].Licenses != nil {
					t.Errorf("licenses %q from a FIFO", d.Packages[0].Licenses)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Collect(tc.files)
			if tc.err != "" && tc.check == nil {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got error %v, want one saying %q", err, tc.err)
				}
				return
			}
			if tc.err != "" {
				// The loop is an error: take it out and check the rest.
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got error %v, want one saying %q", err, tc.err)
				}
				delete(tc.files, "usr/share/doc/curl")
				if d, err = Collect(tc.files); err != nil {
					t.Fatal(err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			tc.check(t, d)
		})
	}
}

func TestStatusErrors(t *testing.T) {
	for _, tc := range []struct {
		name, status, want string
	}{
		{"no Package", "Status: install ok installed\nVersion: 1\n", "stanza at line 1: no Package field"},
		{"bad Status", "Package: a\nStatus: installed\nArchitecture: amd64\nVersion: 1\n", "package a (line 1): bad Status"},
		{"unknown state", "Package: a\nStatus: install ok sideways\nArchitecture: amd64\nVersion: 1\n", "unknown package state"},
		{"no Version", "Package: a\nStatus: install ok installed\nArchitecture: amd64\n", "package a (line 1): no Version"},
		{"bad Version", "Package: a\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1:\n", "package a (line 1): Version"},
		{"no Architecture", "Package: a\nStatus: install ok installed\nVersion: 1\n", "no Architecture"},
		{"bad Depends", "Package: a\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1\nDepends: b (>= \n", "package a (line 1): Depends"},
		{"bad Provides", "Package: a\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1\nProvides: b | c\n", "Provides"},
		{"twice", "Package: a\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1\n\nPackage: a\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2\n", "package a:amd64 (line 6) is listed twice"},
		{"not a stanza", "Package: a\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1\n\n\nnonsense\n", "stanza at line 7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Collect(fstest.MapFS{"var/lib/dpkg/status": {Data: []byte(tc.status)}})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got error %v, want one saying %q", err, tc.want)
			}
		})
	}
}

func TestDependencies(t *testing.T) {
	stanza := func(name, arch, ma, extra string) string {
		s := "Package: " + name + "\nStatus: install ok installed\nArchitecture: " + arch + "\nVersion: 1.0-1\n"
		if ma != "" {
			s += "Multi-Arch: " + ma + "\n"
		}
		if extra != "" {
			s += extra + "\n"
		}
		return s + "\n"
	}
	status := stanza("dpkg", "amd64", "foreign", "") +
		stanza("libfoo", "amd64", "same", "") +
		stanza("libfoo", "i386", "same", "") +
		stanza("python3", "amd64", "allowed", "") +
		stanza("tool", "i386", "foreign", "") +
		stanza("app", "i386", "", "Depends: libfoo, python3:any, tool, dpkg:native, libfoo:amd64 (>= 1.0)") +
		stanza("strict", "i386", "", "Depends: python3") +
		stanza("doc", "all", "", "Depends: libfoo (<< 1.0), virtual (>= 2)") +
		stanza("prov", "amd64", "", "Provides: virtual (= 2.5)")
	d, err := Collect(fstest.MapFS{"var/lib/dpkg/status": {Data: []byte(status)}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		// libfoo: the i386 one; python3:any: M-A allowed; tool: M-A
		// foreign; dpkg:native; libfoo:amd64 by name.
		"app:i386": {"dpkg:amd64", "libfoo:amd64", "libfoo:i386", "python3:amd64", "tool:i386"},
		// python3 is not M-A foreign and of another architecture.
		"strict:i386": nil,
		// arch all counts as native; the version is too high; a versioned
		// Provides satisfies a versioned relation.
		"doc:all": {"prov:amd64"},
	}
	for _, p := range d.Packages {
		if w, ok := want[p.Key()]; ok && !slices.Equal(p.Depends, w) {
			t.Errorf("%s depends on %q, want %q", p.Key(), p.Depends, w)
		}
	}
}

func TestLicenseExpression(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"GPL-2+", "GPL-2.0-or-later"},
		{"GPL-2", "GPL-2.0-only"},
		{"gpl-3.0+", "GPL-3.0-or-later"},
		{"LGPL-2.1", "LGPL-2.1-only"},
		{"LGPL-2+", "LGPL-2.0-or-later"},
		{"AGPL-3+", "AGPL-3.0-or-later"},
		{"GFDL-NIV-1.3+", "GFDL-1.3-no-invariants-or-later"},
		{"GPL-4", "LicenseRef-GPL-4"},
		{"BSD-3-clause", "BSD-3-Clause"},
		{"BSD-2-Clause", "BSD-2-Clause"},
		{"Expat", "MIT"},
		{"Apache-2.0", "Apache-2.0"},
		{"MPL-2.0", "MPL-2.0"},
		{"MPL-1.1+", "MPL-1.1+"},
		{"Artistic", "Artistic-1.0-Perl"},
		{"Artistic-2.0", "Artistic-2.0"},
		{"Perl", "Artistic-1.0-Perl OR GPL-1.0-or-later"},
		{"CC-BY-SA-4.0", "CC-BY-SA-4.0"},
		{"cc-by-nc-nd-2.5", "CC-BY-NC-ND-2.5"},
		{"CC-BY-5.0", "LicenseRef-CC-BY-5.0"},
		{"CC0-1.0", "CC0-1.0"},
		{"public-domain", "LicenseRef-public-domain"},
		{"Zlib", "Zlib"},
		{"other+stuff/x", "LicenseRef-otherplusstuff-x"},
		{"GPL-2+ or Artistic", "GPL-2.0-or-later OR Artistic-1.0-Perl"},
		{"GPL-2+ and BSD-3-clause", "GPL-2.0-or-later AND BSD-3-Clause"},
		{"GPL-2+ or MIT and BSD-3-clause", "GPL-2.0-or-later OR (MIT AND BSD-3-Clause)"},
		{"GPL-2+ or Artistic, and BSD-3-clause", "(GPL-2.0-or-later OR Artistic-1.0-Perl) AND BSD-3-Clause"},
		{"GPL-1+ or Artistic, or BSD-2-clause and MIT", "(GPL-1.0-or-later OR Artistic-1.0-Perl) OR (BSD-2-Clause AND MIT)"},
		{"Perl and MIT", "(Artistic-1.0-Perl OR GPL-1.0-or-later) AND MIT"},
		{"GPL-2+ with OpenSSL exception", "LicenseRef-GPL-2plus-with-OpenSSL-exception"},
		{"GPL-3+ with Bison exception", "GPL-3.0-or-later WITH Bison-exception-2.2"},
		{"GPL-2+ with Autoconf exception or MIT", "(GPL-2.0-or-later WITH Autoconf-exception-2.0) OR MIT"},
		{"custom with Bison exception", "LicenseRef-custom-with-Bison-exception"},
		{"GPL-3+-WITH-BISON-EXCEPTION", "GPL-3.0-or-later WITH Bison-exception-2.2"},
		{"GPL-2 with Linux-syscall-note exception", "GPL-2.0-only WITH Linux-syscall-note"},
		{"GPLv3+", "GPL-3.0-or-later"},
		{"LGPLv2.1+", "LGPL-2.1-or-later"},
		{"OpenLDAP-2.8 and UMich", "OLDAP-2.8 AND LicenseRef-UMich"},
		{"FSFULLR", "FSFULLR"},
		{"bsd-4-clause-uc", "BSD-4-Clause-UC"},
		{"REGCOMP, and GPL-1+ or Artistic", "LicenseRef-REGCOMP AND (GPL-1.0-or-later OR Artistic-1.0-Perl)"},
	} {
		refs := map[string]string{}
		if got := licenseExpression(tc.in, refs); got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestCopyrightLicenses(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       []string
	}{
		{"machine-readable", libc6Copyright, []string{"(GPL-2.0-or-later OR Artistic-1.0-Perl) AND BSD-3-Clause", "LGPL-2.1-or-later", "LicenseRef-public-domain"}},
		{"not machine-readable", baseFilesCopyright, nil},
		{"an earlier DEP-5 draft", "Format-Specification: http://svn.example.org/wsvn/dep/web/deps/dep5.mdwn?op=file&rev=135\n\nFiles: *\nLicense: GPL-2+\n", nil},
		{"empty", "", nil},
		{"header license only", "Format: https://www.example.org/doc/packaging-manuals/copyright-format/1.0/\nLicense: MIT\n", []string{"MIT"}},
		{"CRLF and blank License", "Format: https://www.example.org/doc/packaging-manuals/copyright-format/1.0/\r\n\r\nFiles: *\r\nLicense: ISC\r\n\r\nFiles: x\r\nLicense:\r\n", []string{"ISC"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := copyrightLicenses([]byte(tc.text), map[string]string{}); !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestFormatFor(t *testing.T) {
	for _, tc := range []struct {
		file, explicit string
		want           Format
		err            bool
	}{
		{"", "", SPDX, false},
		{"-", "", SPDX, false},
		{"out/image.spdx.json", "", SPDX, false},
		{"image.cdx.json", "", CycloneDX, false},
		{"IMAGE.CycloneDX.json", "", CycloneDX, false},
		{"image.json", "", SPDX, false},
		{"image.cdx.json", "spdx", SPDX, false},
		{"", "cyclonedx", CycloneDX, false},
		{"", "xml", "", true},
	} {
		got, err := FormatFor(tc.file, tc.explicit)
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("FormatFor(%q, %q) = %q, %v", tc.file, tc.explicit, got, err)
		}
	}
	if SPDX.MediaType() != "application/spdx+json" || CycloneDX.MediaType() != "application/vnd.cyclonedx+json" {
		t.Error("media types")
	}
}

// The document's id changes with its content and options, never at
// random.
func TestDocumentID(t *testing.T) {
	d := collectFixture(t)
	id := func(d *Doc, o Options) string {
		u, err := docUUID(d, SPDX, o)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	a := id(d, testOptions)
	if len(a) != 36 || a[14] != '8' {
		t.Errorf("%s is not a version 8 UUID", a)
	}
	later := testOptions
	later.Created = later.Created.Add(time.Second)
	d2 := collectFixture(t)
	d2.Packages[0].SHA256 = strings.Repeat("0", 64)
	for name, b := range map[string]string{"created": id(d, later), "content": id(d2, testOptions)} {
		if a == b {
			t.Errorf("a different %s gives the same id", name)
		}
	}
	var zero Options
	if got := zero.created(); !got.Equal(time.Unix(0, 0)) {
		t.Errorf("zero Created is %v, want the Unix epoch", got)
	}
}

// Both libraries read the documents back: the SPDX one validates its ids
// and relationships; every package is there with its purl.
func TestReadBack(t *testing.T) {
	d := collectFixture(t)
	data, err := Bytes(d, SPDX, testOptions)
	if err != nil {
		t.Fatal(err)
	}
	sdoc, err := spdxjson.Read(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if err := spdxlib.ValidateDocument(sdoc); err != nil {
		t.Error(err)
	}
	described, err := spdxlib.GetDescribedPackageIDs(sdoc)
	if err != nil || len(described) != 1 || described[0] != "OperatingSystem" {
		t.Errorf("the document describes %v (%v), want the operating system", described, err)
	}
	var purls []string
	for _, p := range sdoc.Packages {
		for _, r := range p.PackageExternalReferences {
			purls = append(purls, r.Locator)
		}
	}
	var want []string
	for _, p := range d.Packages {
		want = append(want, p.PURL)
	}
	if !slices.Equal(purls, want) {
		t.Errorf("SPDX purls %q, want %q", purls, want)
	}

	data, err = Bytes(d, CycloneDX, testOptions)
	if err != nil {
		t.Fatal(err)
	}
	var bom cdx.BOM
	if err := cdx.NewBOMDecoder(bytes.NewReader(data), cdx.BOMFileFormatJSON).Decode(&bom); err != nil {
		t.Fatal(err)
	}
	purls = nil
	for _, c := range *bom.Components {
		purls = append(purls, c.PackageURL)
	}
	if !slices.Equal(purls, want) || bom.SpecVersion != cdx.SpecVersion1_6 {
		t.Errorf("CycloneDX %s purls %q, want %q", bom.SpecVersion, purls, want)
	}
}
