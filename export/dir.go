package export

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"golang.org/x/sys/unix"
)

// dirWriter writes the root as a directory tree. Owners, device nodes and
// privileged xattrs need root; as an ordinary user they are skipped with
// one warning each, since the directory format is then for inspection.
//
// A directory is live on the host, unlike a tarball, so two things of a
// (possibly hostile) package are not made as the table has them; the
// tar and OCI outputs keep the truth:
//   - written by an ordinary user, files would be owned by the builder:
//     a setuid or setgid bit would run them as the builder, so set-id
//     bits are stripped from files;
//   - written by root, a device node is a door to the host's hardware
//     (a world-writable node of the host's disk): only the harmless
//     character devices of a chroot's /dev (safeDevices) are made, every
//     other device node is skipped.
//
// Set-id files owned by root stay so as root: a root-written directory is
// a chroot with working su and passwd, and as trusted as its packages.
type dirWriter struct {
	root     string
	log      *slog.Logger
	owners   bool // try lchown
	euid     int
	egid     int
	warned   map[string]int // warning kind → paths affected
	firstFor map[string]string
}

// safeDevices are the character devices (major, minor) a directory gets:
// null, zero, full, random, urandom, tty, console, ptmx.
var safeDevices = map[[2]int64]bool{
	{1, 3}: true, {1, 5}: true, {1, 7}: true, {1, 8}: true, {1, 9}: true,
	{5, 0}: true, {5, 1}: true, {5, 2}: true,
}

// geteuid is a variable so tests can write a directory "as a user".
var geteuid = os.Geteuid

func (d *dirWriter) warn(kind, path string) {
	if d.warned[kind] == 0 {
		d.firstFor[kind] = path
	}
	d.warned[kind]++
}

// flushWarnings logs one line per kind of thing that could not be done.
func (d *dirWriter) flushWarnings() {
	for _, kind := range []string{"owners", "devices", "unsafe devices", "setid", "xattrs"} {
		n := d.warned[kind]
		if n == 0 {
			continue
		}
		switch kind {
		case "owners":
			d.log.Warn("directory output: owners not set (needs root); the metadata table has them", "paths", n, "first", d.firstFor[kind])
		case "devices":
			d.log.Warn("directory output: device nodes skipped (needs root)", "paths", n, "first", d.firstFor[kind])
		case "unsafe devices":
			d.log.Warn("directory output: device nodes other than null, zero, full, random, urandom, tty, console and ptmx not made (tar and OCI outputs have them)", "paths", n, "first", d.firstFor[kind])
		case "setid":
			d.log.Warn("directory output: setuid/setgid bits stripped from files owned by you, not root (tar and OCI outputs have them)", "paths", n, "first", d.firstFor[kind])
		case "xattrs":
			d.log.Warn("directory output: extended attributes not set", "paths", n, "first", d.firstFor[kind])
		}
	}
}

func (d *dirWriter) host(p string) string {
	if p == "/" {
		return d.root
	}
	return filepath.Join(d.root, p)
}

func timespec(it *item) []unix.Timespec {
	ts := unix.NsecToTimespec(it.ModTime.UnixNano())
	return []unix.Timespec{ts, ts}
}

// finish sets owner, mode, xattrs and times of a created path. Mode comes
// after lchown, which clears setuid bits; xattrs after both, since lchown
// also drops security.capability.
func (d *dirWriter) finish(it *item, hp string, setMode, setTimes bool) error {
	if d.owners {
		if err := os.Lchown(hp, it.Uid, it.Gid); err != nil {
			// In a user namespace with a single mapping, or without
			// CAP_CHOWN, owners cannot be set: say so once, go on.
			d.owners = false
			d.log.Warn("directory output: cannot set owners", "path", it.Path, "err", err)
			d.warn("owners", it.Path)
		}
	} else if it.Uid != d.euid || it.Gid != d.egid {
		d.warn("owners", it.Path)
	}
	if setMode && it.Type != tar.TypeSymlink {
		mode := uint32(it.Mode)
		if !d.owners && it.Type == tar.TypeReg && mode&(unix.S_ISUID|unix.S_ISGID) != 0 {
			mode &^= unix.S_ISUID | unix.S_ISGID
			d.warn("setid", it.Path)
		}
		if err := unix.Chmod(hp, mode); err != nil {
			return fmt.Errorf("chmod %s: %w", it.Path, err)
		}
	}
	for _, k := range sortedKeys(it.Xattrs) {
		if err := unix.Lsetxattr(hp, k, []byte(it.Xattrs[k]), 0); err != nil {
			d.warn("xattrs", it.Path+" "+k+": "+err.Error())
		}
	}
	if setTimes {
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, hp, timespec(it), unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("set mtime of %s: %w", it.Path, err)
		}
	}
	return nil
}

func writeDir(ctx context.Context, src Source, p *plan, target string, opts Options) error {
	out, err := mkdirOutput(target)
	if err != nil {
		return err
	}
	defer out.abort()
	tmp := out.tmp
	d := &dirWriter{
		root:     tmp,
		log:      opts.Log,
		owners:   geteuid() == 0,
		euid:     geteuid(),
		egid:     os.Getegid(),
		warned:   map[string]int{},
		firstFor: map[string]string{},
	}
	defer d.flushWarnings()
	buf := make([]byte, 256<<10)
	var done int64
	if opts.Progress != nil {
		opts.Progress(0, p.total)
	}
	for i := range p.items {
		if err := ctx.Err(); err != nil {
			return err
		}
		it := &p.items[i]
		hp := d.host(it.Path)
		switch it.Type {
		case tar.TypeDir:
			// Directories stay writable until the last pass gives them
			// their mode: a 0555 directory must still receive children.
			if it.Path != "/" {
				if err := os.Mkdir(hp, 0o700); err != nil {
					return fmt.Errorf("mkdir %s: %w", it.Path, err)
				}
			}
			if err := d.finish(it, hp, false, false); err != nil {
				return err
			}
		case tar.TypeReg:
			f, err := os.OpenFile(hp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
			if err != nil {
				return fmt.Errorf("create %s: %w", it.Path, err)
			}
			if it.Size > 0 {
				err = copyContent(ctx, f, src, it.content, it.Size, buf)
			}
			if cerr := f.Close(); err == nil && cerr != nil {
				err = fmt.Errorf("close %s: %w", it.Path, cerr)
			}
			if err != nil {
				return err
			}
			if err := d.finish(it, hp, true, true); err != nil {
				return err
			}
			done += it.Size
			if opts.Progress != nil {
				opts.Progress(done, p.total)
			}
		case tar.TypeLink:
			// The linked inode already has its metadata.
			if err := os.Link(d.host(p.items[it.link].Path), hp); err != nil {
				return fmt.Errorf("hardlink %s: %w", it.Path, err)
			}
		case tar.TypeSymlink:
			if err := os.Symlink(it.Linkname, hp); err != nil {
				return fmt.Errorf("symlink %s: %w", it.Path, err)
			}
			if err := d.finish(it, hp, false, true); err != nil {
				return err
			}
		case tar.TypeFifo:
			if err := unix.Mkfifo(hp, 0o600); err != nil {
				return fmt.Errorf("mkfifo %s: %w", it.Path, err)
			}
			if err := d.finish(it, hp, true, true); err != nil {
				return err
			}
		case tar.TypeChar, tar.TypeBlock:
			if it.Type == tar.TypeBlock || !safeDevices[[2]int64{it.Devmajor, it.Devminor}] {
				d.warn("unsafe devices", it.Path)
				continue
			}
			mode := uint32(unix.S_IFCHR)
			if it.Type == tar.TypeBlock {
				mode = unix.S_IFBLK
			}
			dev := unix.Mkdev(uint32(it.Devmajor), uint32(it.Devminor))
			if err := unix.Mknod(hp, mode|0o600, int(dev)); err != nil {
				if errors.Is(err, unix.EPERM) {
					d.warn("devices", it.Path)
					continue
				}
				return fmt.Errorf("mknod %s: %w", it.Path, err)
			}
			if err := d.finish(it, hp, true, true); err != nil {
				return err
			}
		}
	}
	// Directory modes and times last, deepest first, so that creating a
	// child no longer changes its parent's mtime.
	for i := len(p.items) - 1; i >= 0; i-- {
		it := &p.items[i]
		if it.Type != tar.TypeDir {
			continue
		}
		hp := d.host(it.Path)
		if err := unix.Chmod(hp, uint32(it.Mode)); err != nil {
			return fmt.Errorf("chmod %s: %w", it.Path, err)
		}
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, hp, timespec(it), unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("set mtime of %s: %w", it.Path, err)
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return out.commit()
}

// syncTree flushes the file system holding dir: one syncfs(2) instead of
// an fsync per file.
func syncTree(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return fmt.Errorf("syncfs %s: %w", dir, err)
	}
	return nil
}

func sortedKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}
