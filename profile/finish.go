package profile

import (
	"strings"

	"github.com/debstrap/debstrap/distro"
	"github.com/debstrap/debstrap/rootfs"
)

// emptied are the directories whose content the official tarball leaves
// out (debuerreotype-tar's excludes): device nodes come from the
// container runtime, apt's caches and lists from "apt-get update".
var emptied = []string{"/dev", "/proc", "/sys", "/var/cache/apt", "/var/lib/apt/lists"}

// dropped are the files debuerreotype-fixup removes or debuerreotype-tar
// leaves out (its .tar-exclude and examples/debian.sh's machine-id: an
// image that was never booted has none).
var dropped = []string{
	"/etc/machine-id",
	"/var/log/dpkg.log",
	"/var/log/bootstrap.log",
	"/var/log/alternatives.log",
	"/var/log/apt/history.log",
	"/var/log/apt/term.log",
	"/var/cache/ldconfig/aux-cache",
	"/run/mount/utab",
	"/run/motd.dynamic",
	"/run/shm/.run-transition",
	"/etc/apt/apt.conf.d/01autoremove-kernels",
	"/etc/apt/trustdb.gpg",
	"/var/lib/systemd/catalog/database",
}

// Finish leaves out what the official image's tarball does not hold; it
// runs after the customize hooks, as the tarball is made after them.
// arch is the native architecture: dpkg's arch file naming it alone is
// debstrap's, not debootstrap's, and goes too.
func (p *Profile) Finish(st *rootfs.Stage, rel distro.Release, arch string) error {
	emptied, dropped := emptied, dropped
	if rel.Distribution == distro.Ubuntu {
		// clean_debian_chroot: rm -rf /var/lib/apt/lists/* /dev/*; the
		// tarball leaves nothing out.
		emptied, dropped = []string{"/dev", "/var/lib/apt/lists"}, nil
	}
	for _, d := range emptied {
		kids, err := st.List(d)
		if err != nil {
			continue // not there, or not a directory: nothing to leave out
		}
		for _, k := range kids {
			if err := st.RemoveAll(k.Path); err != nil {
				return err
			}
		}
	}
	for _, f := range dropped {
		if e, ok := st.Lookup(f); ok && e.Type != '5' {
			if err := st.Remove(f); err != nil {
				return err
			}
		}
	}
	// fixup's "rmdir run/mount": only if empty.
	if kids, err := st.List("/run/mount"); err == nil && len(kids) == 0 {
		if err := st.Remove("/run/mount"); err != nil {
			return err
		}
	}
	if data, err := st.ReadFile("/var/lib/dpkg/arch"); err == nil && strings.TrimSpace(string(data)) == arch {
		if err := st.Remove("/var/lib/dpkg/arch"); err != nil {
			return err
		}
	}
	return nil
}
