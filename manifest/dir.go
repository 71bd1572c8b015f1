package manifest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// hostXattrs are extended attributes the host sets on its own files, not
// part of what was built: skipped when reading a directory.
var hostXattrs = map[string]bool{"security.selinux": true}

// readDir walks the directory root without following symlinks.
func readDir(ctx context.Context, root string, k *keeper) (*Manifest, error) {
	root, err := filepath.EvalSymlinks(root)
	if err != nil {
		return nil, err
	}
	t := newTree(k)
	type inodeKey struct{ dev, ino uint64 }
	linked := map[inodeKey]*inode{}
	h := sha256.New()
	buf := make([]byte, 256<<10)
	err = filepath.WalkDir(root, func(hp string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(root, hp)
		if err != nil {
			return err
		}
		p := "/" + filepath.ToSlash(rel)
		if rel == "." {
			p = "/"
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return fmt.Errorf("%s: no stat information", hp)
		}
		key := inodeKey{uint64(st.Dev), uint64(st.Ino)}
		if !fi.IsDir() && st.Nlink > 1 {
			if n, ok := linked[key]; ok {
				t.set(p, n)
				if n.e.Type == TypeFile && t.keep.wants(p) && !t.keep.has(n.e.SHA256) {
					// The group's first path was not wanted: read it now.
					sum, err := t.keep.readFile(t, p, hp, n.e.Size)
					if err == nil && sum != n.e.SHA256 {
						err = fmt.Errorf("%s changed while being read", hp)
					}
					return err
				}
				return nil
			}
		}
		e := Entry{Mode: uint32(st.Mode & 0o7777), Uid: int(st.Uid), Gid: int(st.Gid)}
		switch mt := fi.Mode().Type(); {
		case mt == 0:
			e.Type, e.Size = TypeFile, fi.Size()
			if t.keep.wants(p) {
				if e.SHA256, err = t.keep.readFile(t, p, hp, e.Size); err != nil {
					return err
				}
				break
			}
			sum, n, err := hashFile(hp, h, buf)
			if err != nil {
				return err
			}
			if n != e.Size {
				return fmt.Errorf("%s changed while being read", hp)
			}
			e.SHA256 = sum
		case mt == fs.ModeDir:
			e.Type = TypeDir
		case mt == fs.ModeSymlink:
			e.Type = TypeSymlink
			if e.Link, err = os.Readlink(hp); err != nil {
				return err
			}
		case mt == fs.ModeNamedPipe:
			e.Type = TypeFifo
		case mt == fs.ModeSocket:
			e.Type = TypeSocket
		case mt == fs.ModeDevice|fs.ModeCharDevice:
			e.Type = TypeChar
			e.Major, e.Minor = int64(unix.Major(uint64(st.Rdev))), int64(unix.Minor(uint64(st.Rdev)))
		case mt == fs.ModeDevice:
			e.Type = TypeBlock
			e.Major, e.Minor = int64(unix.Major(uint64(st.Rdev))), int64(unix.Minor(uint64(st.Rdev)))
		default:
			return fmt.Errorf("%s: unknown file type %s", hp, mt)
		}
		if e.Xattrs, err = xattrs(hp); err != nil {
			return err
		}
		n := &inode{e: e}
		if !fi.IsDir() && st.Nlink > 1 {
			linked[key] = n
		}
		t.set(p, n)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return fromTree(t), nil
}

func hashFile(name string, h hash.Hash, buf []byte) (string, int64, error) {
	f, err := os.OpenFile(name, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h.Reset()
	n, err := io.CopyBuffer(h, f, buf)
	if err != nil {
		return "", 0, fmt.Errorf("reading %s: %w", name, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// xattrs returns the extended attributes of the file at p (not following
// a symlink); nil if none or if the filesystem has none.
func xattrs(p string) (map[string]string, error) {
	var names []byte
	for size := 1024; ; size *= 4 {
		buf := make([]byte, size)
		n, err := unix.Llistxattr(p, buf)
		if errors.Is(err, unix.ERANGE) && size < 1<<20 {
			continue
		}
		if errors.Is(err, unix.ENOTSUP) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("list xattrs of %s: %w", p, err)
		}
		names = buf[:n]
		break
	}
	var m map[string]string
	for _, name := range strings.Split(string(names), "\x00") {
		if name == "" || hostXattrs[name] {
			continue
		}
		for size := 256; ; size *= 4 {
			buf := make([]byte, size)
			n, err := unix.Lgetxattr(p, name, buf)
			if errors.Is(err, unix.ERANGE) && size < 1<<20 {
				continue
			}
			if errors.Is(err, unix.ENODATA) {
				break // removed meanwhile
			}
			if err != nil {
				return nil, fmt.Errorf("read xattr %s of %s: %w", name, p, err)
			}
			if m == nil {
				m = map[string]string{}
			}
			m[name] = string(buf[:n])
			break
		}
	}
	return m, nil
}
