package rootfs

import (
	"archive/tar"
	"fmt"
	"path"
	"strings"
)

// Merged /usr, two ways, as the tools we follow do it:
//
//   - Symlinks first (Options.MergedUsr): before any package, make
//     /DIR → usr/DIR and an empty /usr/DIR for each of MergedUsrLinks(arch).
//     This is debootstrap's setup_merged_usr, which mmdebstrap's
//     merged-usr setup hook ran up to mmdebstrap 1.3.7. Packages shipping
//     /bin/bash then land at /usr/bin/bash through the symlink, and a
//     package shipping the directory /lib keeps the symlink (dpkg treats a
//     symlink to a directory as that directory).
//
//   - Merge afterwards (MergeUsr): unpack unmerged, then move /bin, /sbin,
//     /lib* into /usr and make the symlinks, only for the directories that
//     exist. This is what debootstrap (merge_usr, since 1.0.128+nmu) and
//     mmdebstrap's merged-usr extract hook (since 1.3.8) do for bookworm,
//     where usr-is-merged is a real package: a bookworm amd64 minbase ends
//     with bin, lib, lib64 and sbin linked, no lib32 or libx32.
//
// For trixie and later, and Ubuntu from lunar on (noble included),
// base-files itself ships the symlinks (noble amd64: ./bin → usr/bin,
// ./lib → usr/lib, ./lib64 → usr/lib64, ./sbin → usr/sbin) and
// usr-is-merged is only a virtual package; mmdebstrap then does nothing
// and debootstrap's merge_usr finds only symlinks. Unpack base-files
// first: like dpkg, a symlink entry leaves an existing directory alone.

// MergedUsrLinks returns the top-level directories that debootstrap's
// setup_merged_usr links to usr/ for a Debian architecture: bin, sbin
// and lib, then the multilib directories of the architecture
// (amd64: lib32 lib64 libx32; i386: lib64 libx32; mips, mipsel: lib32
// lib64; mips64*, mipsn32*: lib32 lib64 libo32; loongarch64: lib32
// lib64; powerpc: lib64; ppc64: lib32 lib64; ppc64el: lib64; s390x:
// lib32; sparc: lib64; sparc64: lib32 lib64; x32: lib32 lib64 libx32;
// none for arm64, armel, armhf, riscv64 and others). Hurd is never
// merged (mmdebstrap's hook skips it): nil.
func MergedUsrLinks(arch string) []string {
	var extra []string
	switch {
	case strings.HasPrefix(arch, "hurd-"):
		return nil
	case arch == "amd64":
		extra = []string{"lib32", "lib64", "libx32"}
	case arch == "i386":
		extra = []string{"lib64", "libx32"}
	case arch == "mips", arch == "mipsel":
		extra = []string{"lib32", "lib64"}
	case strings.HasPrefix(arch, "mips64"), strings.HasPrefix(arch, "mipsn32"):
		extra = []string{"lib32", "lib64", "libo32"}
	case strings.HasPrefix(arch, "loongarch64"):
		extra = []string{"lib32", "lib64"}
	case arch == "powerpc":
		extra = []string{"lib64"}
	case arch == "ppc64":
		extra = []string{"lib32", "lib64"}
	case arch == "ppc64el":
		extra = []string{"lib64"}
	case arch == "s390x":
		extra = []string{"lib32"}
	case arch == "sparc":
		extra = []string{"lib64"}
	case arch == "sparc64":
		extra = []string{"lib32", "lib64"}
	case arch == "x32":
		extra = []string{"lib32", "lib64", "libx32"}
	}
	return append([]string{"bin", "sbin", "lib"}, extra...)
}

// mergeUsrDirs are the directories merge_usr considers, in its order.
var mergeUsrDirs = []string{"bin", "lib", "lib32", "lib64", "libo32", "libx32", "sbin"}

func (s *Stage) setupMergedUsr() error {
	dirs := MergedUsrLinks(s.opts.Arch)
	if len(dirs) == 0 {
		return nil
	}
	mk := Entry{Mode: 0o755}
	if err := s.MkdirAll("/usr", mk); err != nil {
		return err
	}
	for _, d := range dirs {
		if err := s.MkdirAll("/usr/"+d, mk); err != nil {
			return err
		}
		if err := s.Symlink("usr/"+d, "/"+d, Entry{Mode: 0o777}); err != nil {
			return err
		}
	}
	return nil
}

// MergeUsr converts an unmerged root to merged /usr as debootstrap's
// merge_usr does: for each of /bin, /lib, /lib32, /lib64, /libo32,
// /libx32 and /sbin that exists and is not a symlink, move its content
// into /usr/DIR (recursively merging directories) and replace it with a
// symlink to usr/DIR. It fails, as debootstrap does, when a path exists
// on both sides and is not a directory on both, when the /usr side is a
// symlink, or when a relative symlink to be moved crosses the top-level
// directory. The dpkg file lists keep the paths as shipped.
func (s *Stage) MergeUsr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkOpen(); err != nil {
		return err
	}
	s.noRollback()
	defer s.dropTmp()
	for _, d := range mergeUsrDirs {
		n := s.top.kids[d]
		if n == nil || n.typ == tar.TypeSymlink {
			continue
		}
		usr := s.top.kids["usr"]
		if usr == nil || !usr.isDir() {
			return fmt.Errorf("rootfs: merged /usr: /usr is not a directory")
		}
		if err := s.mergeEntry(n); err != nil {
			return fmt.Errorf("rootfs: merged /usr: %w", err)
		}
		if err := s.symlink("usr/"+d, d, Entry{Mode: 0o777}); err != nil {
			return fmt.Errorf("rootfs: merged /usr: %w", err)
		}
		s.log.Debug("merged /usr", "dir", "/"+d)
	}
	return nil
}

func (s *Stage) mergeEntry(n *node) error {
	canon := "/usr" + n.path
	c := s.nodes[canon]
	if c != nil && c.typ == tar.TypeSymlink {
		return fmt.Errorf("cannot move %s as its destination exists as a symlink", n.path)
	}
	if c == nil {
		parent := s.nodes[path.Dir(canon)]
		if parent == nil || !parent.isDir() {
			return fmt.Errorf("cannot move %s: %s is not a directory", n.path, path.Dir(canon))
		}
		if err := s.root.Rename(rel(n.path), rel(canon)); err != nil {
			return err
		}
		s.move(n, parent, path.Base(canon))
		return nil
	}
	if !n.isDir() {
		return fmt.Errorf("cannot move non-directory %s as its destination exists", n.path)
	}
	if !c.isDir() {
		return fmt.Errorf("cannot move directory %s as its destination is not a directory", n.path)
	}
	for _, b := range sortedKids(n) {
		k := n.kids[b]
		if k.typ == tar.TypeSymlink && !canUsrmergeSymlink(k.path, k.m.linkname) {
			return fmt.Errorf("cannot move relative symlink %s → %s crossing the top-level directory", k.path, k.m.linkname)
		}
		if err := s.mergeEntry(k); err != nil {
			return err
		}
	}
	if err := s.root.Remove(rel(n.path)); err != nil {
		return err
	}
	s.detach(n)
	return nil
}

// canUsrmergeSymlink reports whether the symlink at p (before the move)
// with target keeps pointing at the same thing once moved one level
// down under /usr (debootstrap's can_usrmerge_symlink): absolute targets
// always do, relative ones as long as their ".." never climb to the top
// level.
func canUsrmergeSymlink(p, target string) bool {
	if strings.HasPrefix(target, "/") {
		return true
	}
	depth := func(p string) int { return strings.Count(p, "/") }
	for {
		switch {
		case strings.HasPrefix(target, "/"):
			target = target[1:]
		case strings.HasPrefix(target, "./"):
			target = target[2:]
		case target == "..":
			return depth(p) >= 3
		case strings.HasPrefix(target, "../"):
			if depth(p) <= 2 {
				return false
			}
			p = path.Dir(p)
			target = target[3:]
		default:
			return !strings.Contains(target, "/../")
		}
	}
}
