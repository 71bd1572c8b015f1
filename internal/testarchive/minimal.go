package testarchive

import (
	"archive/tar"
	"slices"
	"strings"
)

// Minimal returns a tiny Debian-like archive to start tests from: suite
// "stable", codename "bookworm", component main, architecture amd64, with
// the packages of MinimalDebs. Callers may change it freely: every call
// returns a fresh value.
func Minimal() Archive {
	return Archive{Suites: []Suite{{
		Name:          "stable",
		Codename:      "bookworm",
		Version:       "12.5",
		Components:    []string{"main"},
		Architectures: []string{"amd64"},
		Packages:      map[string][]Deb{"main": MinimalDebs()},
	}}}
}

// MinimalDebs is a small "base system" for amd64 whose relations close over
// itself (no dangling dependency):
//
//   - libc6: Multi-Arch: same, Source: glibc, files under /lib (for
//     merged-/usr), a /lib64 symlink, a triggers member;
//   - base-files: Essential, Pre-Depends on the virtual awk, a conffile,
//     a relative symlink, a 1777 directory;
//   - mawk: required, Provides: awk, Multi-Arch: foreign, alternatives in
//     postinst;
//   - gawk: optional, epoch version 1:5.2.1-2, Provides: awk;
//   - debianutils, dash: Essential with Pre-Depends (dash ships /bin/sh);
//   - debconf: Architecture: all, Provides: debconf-2.0, Conflicts, a
//     conffile;
//   - nano: Priority: important, Depends with an alternative
//     (gawk (>= 1:5) | mawk), Recommends, a conffile;
//   - hello: optional, Depends on libc6 and the virtual debconf-2.0 via an
//     alternative (debconf | debconf-2.0).
//
// libc6 is Priority: optional, as in Debian: a selection by priority gets
// it only through dependencies.
func MinimalDebs() []Deb {
	exe := func(p, body string) File { return File{Path: p, Mode: 0o755, Body: []byte(body)} }
	reg := func(p, body string) File { return File{Path: p, Body: []byte(body)} }
	sym := func(p, target string) File { return File{Path: p, Type: tar.TypeSymlink, Linkname: target} }
	doc := func(pkg string) File {
		return reg("./usr/share/doc/"+pkg+"/copyright", "This is the copyright file of "+pkg+".\n")
	}
	debs := []Deb{
		{
			Name: "libc6", Version: "2.36-9+deb12u4",
			Fields: []Field{
				{"Source", "glibc"},
				{"Section", "libs"},
				{"Priority", "optional"},
				{"Multi-Arch", "same"},
				{"Description", "GNU C Library: Shared libraries\nContains the standard libraries that are used by nearly all programs on\nthe system."},
			},
			Files: []File{
				exe("./lib/x86_64-linux-gnu/libc.so.6", "\x7fELF fake libc\n"),
				exe("./lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "\x7fELF fake ld.so\n"),
				sym("./lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"),
				doc("libc6"),
			},
			Scripts: map[string]string{
				"triggers": "activate-noawait ldconfig\n",
				"shlibs":   "libc 6 libc6 (>= 2.36)\n",
				"postinst": "#!/bin/sh\nset -e\nexit 0\n",
			},
		},
		{
			Name: "base-files", Version: "12.4+deb12u5",
			Fields: []Field{
				{"Essential", "yes"},
				{"Pre-Depends", "awk"},
				{"Provides", "base"},
				{"Replaces", "base, dpkg (<= 1.15.0), miscutils"},
				{"Section", "admin"},
				{"Priority", "required"},
				{"Multi-Arch", "foreign"},
				{"Description", "Debian base system miscellaneous files\nThis package contains the basic filesystem hierarchy of a Debian system."},
			},
			Files: []File{
				reg("./etc/debian_version", "12.5\n"),
				sym("./etc/os-release", "../usr/lib/os-release"),
				reg("./usr/lib/os-release", "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_CODENAME=bookworm\n"),
				{Path: "./tmp/", Mode: 0o1777},
				doc("base-files"),
			},
			Conffiles: []string{"/etc/debian_version"},
			Scripts: map[string]string{
				"postinst": "#!/bin/sh\nset -e\nexit 0\n",
			},
		},
		{
			Name: "mawk", Version: "1.3.4.20200120-3.1",
			Fields: []Field{
				{"Depends", "libc6 (>= 2.29)"},
				{"Provides", "awk"},
				{"Section", "interpreters"},
				{"Priority", "required"},
				{"Multi-Arch", "foreign"},
				{"Description", "Pattern scanning and text processing language\nMawk is an interpreter for the AWK Programming Language."},
			},
			Files: []File{exe("./usr/bin/mawk", "#!/bin/sh\necho mawk\n"), doc("mawk")},
			Scripts: map[string]string{
				"postinst": "#!/bin/sh\nset -e\nupdate-alternatives --install /usr/bin/awk awk /usr/bin/mawk 5\n",
				"prerm":    "#!/bin/sh\nset -e\nupdate-alternatives --remove awk /usr/bin/mawk\n",
			},
		},
		{
			Name: "gawk", Version: "1:5.2.1-2",
			Fields: []Field{
				{"Pre-Depends", "libc6 (>= 2.34)"},
				{"Provides", "awk"},
				{"Section", "interpreters"},
				{"Priority", "optional"},
				{"Multi-Arch", "foreign"},
				{"Description", "GNU awk, a pattern scanning and processing language"},
			},
			Files: []File{exe("./usr/bin/gawk", "#!/bin/sh\necho gawk\n"), doc("gawk")},
			Scripts: map[string]string{
				"postinst": "#!/bin/sh\nset -e\nupdate-alternatives --install /usr/bin/awk awk /usr/bin/gawk 10\n",
			},
		},
		{
			Name: "debianutils", Version: "5.7-0.5~deb12u1",
			Fields: []Field{
				{"Essential", "yes"},
				{"Pre-Depends", "libc6 (>= 2.34)"},
				{"Section", "utils"},
				{"Priority", "required"},
				{"Multi-Arch", "foreign"},
				{"Description", "Miscellaneous utilities specific to Debian"},
			},
			Files: []File{
				exe("./usr/bin/run-parts", "#!/bin/sh\n"),
				exe("./usr/bin/which", "#!/bin/sh\n"),
				doc("debianutils"),
			},
		},
		{
			Name: "dash", Version: "0.5.12-2",
			Fields: []Field{
				{"Essential", "yes"},
				{"Pre-Depends", "libc6 (>= 2.34), debianutils (>= 5.6-0.1)"},
				{"Section", "shells"},
				{"Priority", "required"},
				{"Multi-Arch", "foreign"},
				{"Description", "POSIX-compliant shell\nThe Debian Almquist Shell (dash) is a POSIX-compliant shell derived\nfrom ash."},
			},
			Files: []File{
				exe("./bin/dash", "\x7fELF fake dash\n"),
				sym("./bin/sh", "dash"),
				doc("dash"),
			},
			Scripts: map[string]string{
				"postinst": "#!/bin/sh\nset -e\nexit 0\n",
				"templates": "Template: dash/sh\nType: boolean\nDefault: true\n" +
					"Description: Use dash as the default system shell (/bin/sh)?\n",
			},
		},
		{
			Name: "debconf", Version: "1.5.82", Architecture: "all",
			Fields: []Field{
				{"Provides", "debconf-2.0"},
				{"Conflicts", "cdebconf (<< 0.96), debconf-tiny"},
				{"Replaces", "debconf-tiny"},
				{"Section", "admin"},
				{"Priority", "required"},
				{"Multi-Arch", "foreign"},
				{"Description", "Debian configuration management system"},
			},
			Files: []File{
				reg("./etc/debconf.conf", "Config: configdb\nTemplates: templatedb\n"),
				reg("./usr/share/debconf/confmodule", "# fake confmodule\n"),
				doc("debconf"),
			},
			Conffiles: []string{"/etc/debconf.conf"},
			Scripts: map[string]string{
				"config":   "#!/bin/sh\nset -e\nexit 0\n",
				"postinst": "#!/bin/sh\nset -e\nexit 0\n",
			},
		},
		{
			Name: "nano", Version: "7.2-1+deb12u1",
			Fields: []Field{
				{"Depends", "libc6 (>= 2.34), gawk (>= 1:5) | mawk"},
				{"Recommends", "hello"},
				{"Section", "editors"},
				{"Priority", "important"},
				{"Description", "small, friendly text editor inspired by Pico"},
			},
			Files: []File{
				reg("./etc/nanorc", "# nanorc\n"),
				exe("./bin/nano", "\x7fELF fake nano\n"),
				doc("nano"),
			},
			Conffiles: []string{"/etc/nanorc"},
			Scripts: map[string]string{
				"postinst": "#!/bin/sh\nset -e\nupdate-alternatives --install /usr/bin/editor editor /bin/nano 40\n",
			},
		},
		{
			Name: "hello", Version: "2.10-3",
			Fields: []Field{
				{"Depends", "libc6 (>= 2.34), debconf | debconf-2.0"},
				{"Section", "devel"},
				{"Priority", "optional"},
				{"Homepage", "https://example.org/hello"},
				{"Description", "example package based on GNU hello"},
			},
			Files: []File{exe("./usr/bin/hello", "#!/bin/sh\necho Hello, world!\n"), doc("hello")},
		},
	}
	return slices.Clip(debs)
}

// multiarchTriplets are the multiarch directories of the architectures
// tests build for.
var multiarchTriplets = map[string]string{
	"amd64": "x86_64-linux-gnu",
	"arm64": "aarch64-linux-gnu",
	"armhf": "arm-linux-gnueabihf",
	"armel": "arm-linux-gnueabi",
	"i386":  "i386-linux-gnu",
}

// MinimalArchs is Minimal for several architectures: every package of
// MinimalDebs that is not Architecture: all once for each, with its
// x86_64-linux-gnu paths under the architecture's multiarch directory,
// so the roots of two architectures differ.
func MinimalArchs(archs ...string) Archive {
	a := Minimal()
	s := &a.Suites[0]
	s.Architectures = slices.Clone(archs)
	var debs []Deb
	for i, arch := range archs {
		triplet := multiarchTriplets[arch]
		if triplet == "" {
			triplet = arch + "-linux-gnu"
		}
		for _, d := range MinimalDebs() {
			if d.Architecture == "all" {
				if i == 0 {
					debs = append(debs, d)
				}
				continue
			}
			d.Architecture = arch
			for j, f := range d.Files {
				f.Path = strings.ReplaceAll(f.Path, "x86_64-linux-gnu", triplet)
				f.Linkname = strings.ReplaceAll(f.Linkname, "x86_64-linux-gnu", triplet)
				d.Files[j] = f
			}
			debs = append(debs, d)
		}
	}
	s.Packages = map[string][]Deb{"main": debs}
	return a
}
