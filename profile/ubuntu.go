package profile

import (
	"bytes"
	"fmt"
	"path"
	"slices"
	"time"

	"github.com/debstrap/debstrap/apt"
	"github.com/debstrap/debstrap/deb"
	"github.com/debstrap/debstrap/distro"
	"github.com/debstrap/debstrap/dpkg"
	"github.com/debstrap/debstrap/rootfs"
)

// ubuntu:SUITE is made by Canonical's livecd-rootfs (GPL-3), project
// ubuntu-oci, subproject minimized: debootstrap's minbase, the
// minimization (live-build/auto/build) and configure_oci
// (live-build/functions). files/ubuntu are the texts it writes.

// ubuntuExcludes is /etc/dpkg/dpkg.cfg.d/excludes; livecd-rootfs
// reinstalls every package under it, which leaves what unpacking through
// the same filters leaves.
func ubuntuExcludes() string {
	data, _ := files.ReadFile("files/ubuntu/excludes")
	return string(data)
}

// Excludes are the dpkg path filters the profile's image is unpacked
// through: ubuntu:SUITE's minimization; none for Debian's (slim removes
// its files afterwards, as debuerreotype does).
func (p *Profile) Excludes(rel distro.Release) string {
	if p == nil || rel.Distribution != distro.Ubuntu {
		return ""
	}
	return ubuntuExcludes()
}

// Include are the packages the profile adds to the variant's: noble's
// ubuntu-oci image installs unminimize (livecd-rootfs 24.04.81 on).
func (p *Profile) Include(suite string) []string {
	if p == nil {
		return nil
	}
	if rel, ok := distro.Lookup(suite); ok && rel.Distribution == distro.Ubuntu && rel.Codename == "noble" {
		return []string{"unminimize"}
	}
	return nil
}

// ubuntuFiles are what the minimization and configure_oci write.
var ubuntuFiles = []placed{
	{"locale", "/etc/default/locale", 0o644},
	{"excludes", "/etc/dpkg/dpkg.cfg.d/excludes", 0o644},
	{"60-unminimize", "/etc/update-motd.d/60-unminimize", 0o755},
	{"man", "/usr/bin/man", 0o755},
	{"policy-rc.d", "/usr/sbin/policy-rc.d", 0o755},
	{"initctl", "/usr/sbin/initctl", 0o755}, // /sbin/initctl through the merged /sbin
	{"docker-apt-speedup", "/etc/dpkg/dpkg.cfg.d/docker-apt-speedup", 0o644},
	{"docker-clean", "/etc/apt/apt.conf.d/docker-clean", 0o644},
	{"docker-no-languages", "/etc/apt/apt.conf.d/docker-no-languages", 0o644},
	{"docker-gzip-indexes", "/etc/apt/apt.conf.d/docker-gzip-indexes", 0o644},
	{"docker-autoremove-suggests", "/etc/apt/apt.conf.d/docker-autoremove-suggests", 0o644},
	{"docker-disable-periodic-update", "/etc/apt/apt.conf.d/docker-disable-periodic-update", 0o644},
	{"container", "/run/systemd/container", 0o644},
}

// ubuntuConfigured is what livecd-rootfs does to ubuntu:SUITE's root
// after debootstrap: C.UTF-8, the path excludes, the unminimize notice
// and man's stub (man diverted to man.REAL), configure_oci's settings
// (policy-rc.d, initctl diverted and stubbed, apt and dpkg options for
// containers, /run/systemd/container), /etc/cloud/build.info, the user
// ubuntu, and clean_debian_chroot's removals. No package is marked
// automatic: debootstrap marks none and the image installs by name.
func (p *Profile) ubuntuConfigured(st *rootfs.Stage, arch string, epoch time.Time) error {
	if !installed(st, "tzdata") {
		for _, f := range []string{"/etc/localtime", "/etc/timezone"} {
			if _, ok := st.Lookup(f); ok {
				if err := st.Remove(f); err != nil {
					return err
				}
			}
		}
	}
	if err := writeFiles(st, "ubuntu", ubuntuFiles); err != nil {
		return err
	}
	if err := addDiversions(st, arch,
		dpkg.Diversion{Path: "/usr/bin/man", Divert: "/usr/bin/man.REAL"},
		dpkg.Diversion{Path: "/sbin/initctl", Divert: "/sbin/initctl.distrib"}); err != nil {
		return err
	}
	info := fmt.Sprintf("build_name: ubuntu-oci:minimized\nserial: %s\n", epoch.UTC().Format("20060102"))
	if err := st.MkdirAll("/etc/cloud", rootfs.Entry{Mode: 0o755}); err != nil {
		return err
	}
	if err := st.WriteFile("/etc/cloud/build.info", []byte(info), rootfs.Entry{Mode: 0o644}); err != nil {
		return err
	}
	if err := addUbuntuUser(st, arch, epoch); err != nil {
		return fmt.Errorf("the user ubuntu: %w", err)
	}
	// apt ran (the reinstall, unminimize's install) and marked nothing.
	if _, ok := st.Lookup("/var/lib/apt"); ok {
		if err := st.WriteFile("/var/lib/apt/extended_states", nil, rootfs.Entry{Mode: 0o644}); err != nil {
			return err
		}
	}
	// clean_debian_chroot: the -old files, apt clean.
	for _, d := range []string{"/var/cache/debconf", "/var/lib/dpkg"} {
		if err := removeMatching(st, d, "*-old"); err != nil {
			return err
		}
	}
	for _, g := range [][2]string{{"/var/cache/apt", "*.bin"}, {"/var/cache/apt/archives", "*.deb"}, {"/var/cache/apt/archives/partial", "*"}} {
		if err := removeMatching(st, g[0], g[1]); err != nil {
			return err
		}
	}
	return nil
}

// installed reports whether the root's dpkg status has pkg installed.
func installed(st *rootfs.Stage, pkg string) bool {
	data, err := st.ReadFile("/var/lib/dpkg/status")
	if err != nil {
		return false
	}
	stanzas, err := dpkg.ParseStatus(bytes.NewReader(data))
	return err == nil && slices.ContainsFunc(stanzas, func(s deb.Stanza) bool {
		return s.Get("Package") == pkg && s.Get("Status") == "install ok installed"
	})
}

// removeMatching removes the files of dir whose names match glob.
func removeMatching(st *rootfs.Stage, dir, glob string) error {
	kids, err := st.List(dir)
	if err != nil {
		return nil
	}
	for _, k := range kids {
		if ok, _ := path.Match(glob, path.Base(k.Path)); ok && k.Type != '5' {
			if err := st.Remove(k.Path); err != nil {
				return err
			}
		}
	}
	return nil
}

// addDiversions adds local diversions (dpkg-divert --local --add) to the
// root's diversions file, in dpkg's order.
func addDiversions(st *rootfs.Stage, arch string, add ...dpkg.Diversion) error {
	var divs []dpkg.Diversion
	if data, err := st.ReadFile("/var/lib/dpkg/diversions"); err == nil {
		if divs, err = dpkg.ParseDiversions(data); err != nil {
			return err
		}
	}
	for _, d := range add {
		if slices.ContainsFunc(divs, func(o dpkg.Diversion) bool { return o.Path == d.Path }) {
			return fmt.Errorf("%s is diverted already", d.Path)
		}
		divs = append(divs, d)
	}
	return st.WriteFile("/var/lib/dpkg/diversions", dpkg.FormatDiversions(divs, arch), rootfs.Entry{Mode: 0o644})
}

// ubuntuSources are livecd-rootfs' sources for noble and later: a
// sources.list saying they moved, ubuntu.sources with the archive's
// release, updates and backports and the security archive's security
// suite, all four components, whatever the build itself read.
func ubuntuSources(st *rootfs.Stage, rel distro.Release, entries []apt.Entry, keyring string) error {
	if len(entries) == 0 {
		return nil
	}
	archive, security := entries[0].URI, entries[0].URI
	for _, e := range entries {
		if distro.IsSecurity(e.Suite) {
			security = e.URI
			break
		}
	}
	head, _ := files.ReadFile("files/ubuntu/ubuntu.sources.head")
	moved, _ := files.ReadFile("files/ubuntu/sources.list")
	s := rel.Codename
	signed := ""
	if keyring != "" {
		signed = "Signed-By: " + keyring + "\n"
	}
	const comps = "Components: main universe restricted multiverse\n"
	text := string(head) +
		"Types: deb\nURIs: " + archive + "\nSuites: " + s + " " + s + "-updates " + s + "-backports\n" + comps + signed +
		"\n## Ubuntu security updates. Aside from URIs and Suites,\n## this should mirror your choices in the previous section.\n" +
		"Types: deb\nURIs: " + security + "\nSuites: " + s + "-security\n" + comps + signed
	if err := st.WriteFile("/etc/apt/sources.list", moved, rootfs.Entry{Mode: 0o644}); err != nil {
		return err
	}
	if err := st.MkdirAll("/etc/apt/sources.list.d", rootfs.Entry{Mode: 0o755}); err != nil {
		return err
	}
	return st.WriteFile("/etc/apt/sources.list.d/ubuntu.sources", []byte(text), rootfs.Entry{Mode: 0o644})
}
