package profile

import (
	"embed"
	"fmt"
	"path"
	"time"

	"github.com/debstrap/debstrap/distro"
	"github.com/debstrap/debstrap/native"
	"github.com/debstrap/debstrap/rootfs"
)

// The files the official images carry, byte for byte: a difference in a
// comment is a difference in the image. files/debian are the texts
// debuerreotype (Apache-2.0) writes in debuerreotype-minimizing-config
// and debuerreotype-init.
//
//go:embed files
var files embed.FS

// placed is one file a profile writes, and where.
type placed struct {
	src, dst string
	mode     int64
}

// debianFiles are debuerreotype-minimizing-config's (policy-rc.d, the
// dpkg and apt options for containers) and debuerreotype-init's
// (hostname, resolv.conf).
var debianFiles = []placed{
	{"policy-rc.d", "/usr/sbin/policy-rc.d", 0o755},
	{"docker-apt-speedup", "/etc/dpkg/dpkg.cfg.d/docker-apt-speedup", 0o644},
	{"docker-autoremove-suggests", "/etc/apt/apt.conf.d/docker-autoremove-suggests", 0o644},
	{"docker-clean", "/etc/apt/apt.conf.d/docker-clean", 0o644},
	{"docker-gzip-indexes", "/etc/apt/apt.conf.d/docker-gzip-indexes", 0o644},
	{"docker-no-languages", "/etc/apt/apt.conf.d/docker-no-languages", 0o644},
	{"hostname", "/etc/hostname", 0o644},
	{"resolv.conf", "/etc/resolv.conf", 0o644},
}

// Configured does what the image's builder does once the packages are
// configured: its configuration files for containers, every package
// marked automatically installed but those asked for by name (manual),
// and for slim the path excludes; for Ubuntu, livecd-rootfs' steps
// (ubuntuConfigured). arch is the native architecture, epoch the build's
// SOURCE_DATE_EPOCH.
func (p *Profile) Configured(st *rootfs.Stage, rel distro.Release, pkgs []native.Installed, arch string, manual []string, epoch time.Time) error {
	if rel.Distribution == distro.Ubuntu {
		return p.ubuntuConfigured(st, arch, epoch)
	}
	if err := writeFiles(st, "debian", debianFiles); err != nil {
		return err
	}
	if err := markAuto(st, pkgs, arch, manual); err != nil {
		return err
	}
	if p.Slim {
		return slimify(st)
	}
	return nil
}

func writeFiles(st *rootfs.Stage, dir string, list []placed) error {
	for _, f := range list {
		data, err := files.ReadFile(path.Join("files", dir, f.src))
		if err != nil {
			return err
		}
		if err := st.MkdirAll(path.Dir(f.dst), rootfs.Entry{Mode: 0o755}); err != nil {
			return fmt.Errorf("profile: %w", err)
		}
		// A symlink there (resolv.conf to systemd's) is replaced, as the
		// shell's > would not: the image has the file.
		if e, ok := st.Lookup(f.dst); ok && e.Type != '0' {
			if err := st.Remove(f.dst); err != nil {
				return fmt.Errorf("profile: %w", err)
			}
		}
		if err := st.WriteFile(f.dst, data, rootfs.Entry{Mode: f.mode}); err != nil {
			return fmt.Errorf("profile: writing %s: %w", f.dst, err)
		}
	}
	return nil
}

// markAuto writes apt's extended_states as "apt-mark auto '.*'" then
// "apt-mark manual" of the packages asked for leave it (debuerreotype-init):
// every other package Auto-Installed, in the order of apt's cache, an
// Architecture: all package under the native architecture.
func markAuto(st *rootfs.Stage, pkgs []native.Installed, arch string, manual []string) error {
	if _, ok := st.Lookup("/var/lib/apt"); !ok {
		return nil // no apt: nothing marks anything
	}
	return st.WriteFile("/var/lib/apt/extended_states", native.ExtendedStates(pkgs, arch, manual), rootfs.Entry{Mode: 0o644})
}
