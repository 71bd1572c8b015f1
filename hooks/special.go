package hooks

import (
	"archive/tar"
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/debstrap/debstrap/manifest"
	"github.com/debstrap/debstrap/rootfs"
)

// specials are mmdebstrap's special hooks and how many arguments each
// takes (-1: two or more, the last a directory).
var specials = map[string]int{
	"copy-in": -1, "copy-out": -1,
	"tar-in": 2, "tar-out": 2,
	"upload": 2, "download": 2,
	"sync-in": 2, "sync-out": 2,
}

// Special reports whether command is a special hook, and splits it (on
// white space, as mmdebstrap does: no quoting).
func Special(command string) (name string, args []string, ok bool) {
	f := strings.Fields(command)
	if len(f) == 0 {
		return "", nil, false
	}
	if _, ok := specials[f[0]]; !ok {
		return "", nil, false
	}
	return f[0], f[1:], true
}

// CheckSpecial checks a special hook's arguments (before the build).
func CheckSpecial(command string) error {
	name, args, ok := Special(command)
	if !ok {
		return nil
	}
	n := specials[name]
	if n == -1 && len(args) < 2 || n > 0 && len(args) != n {
		want := fmt.Sprint(n)
		if n == -1 {
			want = "two or more"
		}
		return fmt.Errorf("%s takes %s arguments, got %d (%q)", name, want, len(args), command)
	}
	return nil
}

func runSpecial(st *rootfs.Stage, name string, args []string) error {
	if err := CheckSpecial(name + " " + strings.Join(args, " ")); err != nil {
		return err
	}
	switch name {
	case "copy-in":
		dst := args[len(args)-1]
		for _, src := range args[:len(args)-1] {
			if err := copyIn(st, src, path.Join(dst, filepath.Base(src))); err != nil {
				return err
			}
		}
	case "sync-in":
		ents, err := os.ReadDir(args[0])
		if err != nil {
			return err
		}
		for _, e := range ents {
			if err := copyIn(st, filepath.Join(args[0], e.Name()), path.Join(args[1], e.Name())); err != nil {
				return err
			}
		}
	case "upload":
		return copyIn(st, args[0], args[1])
	case "copy-out":
		dst := args[len(args)-1]
		for _, src := range args[:len(args)-1] {
			if err := copyOut(st, src, filepath.Join(dst, path.Base(src))); err != nil {
				return err
			}
		}
	case "sync-out":
		ents, err := st.List(args[0])
		if err != nil {
			return err
		}
		if err := os.MkdirAll(args[1], 0o755); err != nil {
			return err
		}
		for _, e := range ents {
			if err := copyOut(st, e.Path, filepath.Join(args[1], path.Base(e.Path))); err != nil {
				return err
			}
		}
	case "download":
		return copyOut(st, args[0], args[1])
	case "tar-in":
		return tarIn(st, args[0], args[1])
	case "tar-out":
		return tarOut(st, args[0], args[1])
	}
	return nil
}

// copyIn copies the host path src (a file, a symlink or a directory,
// recursively) to dst in the root: owned by root, the host's modes.
func copyIn(st *rootfs.Stage, src, dst string) error {
	if _, err := st.Stat(path.Dir(dst)); err != nil {
		if err := st.MkdirAll(path.Dir(dst), rootfs.Entry{Mode: 0o755}); err != nil {
			return err
		}
	}
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := path.Join(dst, filepath.ToSlash(rel))
		fi, err := d.Info()
		if err != nil {
			return err
		}
		e := rootfs.Entry{Mode: int64(fi.Mode().Perm()) | setBits(fi.Mode()), ModTime: fi.ModTime()}
		switch {
		case d.IsDir():
			if old, err := st.Lstat(to); err == nil && old.Type == tar.TypeDir {
				return st.Update(to, func(x *rootfs.Entry) { x.Mode, x.Uid, x.Gid = e.Mode, 0, 0 })
			}
			return st.MkdirAll(to, e)
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			st.Remove(to)
			return st.Symlink(target, to, rootfs.Entry{Mode: 0o777, ModTime: e.ModTime})
		case fi.Mode().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return st.WriteFile(to, data, e)
		}
		return fmt.Errorf("%s: only files, directories and symlinks can be copied in (this is a %s)", p, fi.Mode().Type())
	})
}

func setBits(m fs.FileMode) int64 {
	var b int64
	if m&fs.ModeSetuid != 0 {
		b |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		b |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		b |= 0o1000
	}
	return b
}

// copyOut copies src of the root (resolved inside it) to the host path
// dst, recursively; the copies are the builder's.
func copyOut(st *rootfs.Stage, src, dst string) error {
	e, err := st.Lstat(src)
	if err != nil {
		return err
	}
	switch e.Type {
	case tar.TypeDir:
		if err := os.MkdirAll(dst, fs.FileMode(e.Mode&0o777)|0o700); err != nil {
			return err
		}
		kids, err := st.List(src)
		if err != nil {
			return err
		}
		for _, k := range kids {
			if err := copyOut(st, k.Path, filepath.Join(dst, path.Base(k.Path))); err != nil {
				return err
			}
		}
		return nil
	case tar.TypeSymlink:
		os.Remove(dst)
		return os.Symlink(e.Linkname, dst)
	case tar.TypeReg, tar.TypeLink:
		in, err := st.Open(src)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, fs.FileMode(e.Mode&0o777))
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	}
	return fmt.Errorf("%s: a device or fifo cannot be copied out", src)
}

// tarIn unpacks the host tarball file (plain, gzip, xz or zstd) into dir
// of the root, owners and modes as the tarball says.
func tarIn(st *rootfs.Stage, file, dir string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	r, release, err := manifest.Decompress(bufio.NewReader(f))
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	defer release()
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		name := path.Clean("/" + h.Name)
		to := path.Join(dir, name)
		e := rootfs.Entry{Mode: h.Mode & 0o7777, Uid: h.Uid, Gid: h.Gid, ModTime: h.ModTime,
			Devmajor: h.Devmajor, Devminor: h.Devminor, Xattrs: xattrsOf(h)}
		switch h.Typeflag {
		case tar.TypeDir:
			if old, err := st.Lstat(to); err == nil && old.Type == tar.TypeDir {
				err = st.Update(to, func(x *rootfs.Entry) { x.Mode, x.Uid, x.Gid = e.Mode, e.Uid, e.Gid })
				if err != nil {
					return err
				}
				continue
			}
			err = st.MkdirAll(to, e)
		case tar.TypeReg:
			var data []byte
			if data, err = io.ReadAll(tr); err == nil {
				err = st.WriteFile(to, data, e)
			}
		case tar.TypeSymlink:
			st.Remove(to)
			err = st.Symlink(h.Linkname, to, e)
		case tar.TypeLink:
			// A copy of what it links to (within the root).
			var data []byte
			if data, err = st.ReadFile(path.Join(dir, path.Clean("/"+h.Linkname))); err == nil {
				err = st.WriteFile(to, data, e)
			}
		case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
			e.Type = h.Typeflag
			st.Remove(to)
			err = st.Mknod(to, e)
		default:
			err = fmt.Errorf("unsupported entry type %q", h.Typeflag)
		}
		if err != nil {
			return fmt.Errorf("%s: %s: %w", file, h.Name, err)
		}
	}
}

func xattrsOf(h *tar.Header) map[string]string {
	var x map[string]string
	for k, v := range h.PAXRecords {
		if name, ok := strings.CutPrefix(k, "SCHILY.xattr."); ok {
			if x == nil {
				x = map[string]string{}
			}
			x[name] = v
		}
	}
	return x
}

// tarOut writes dir of the root and all below it to the host file as a
// tarball, owners and modes from the table.
func tarOut(st *rootfs.Stage, dir, file string) error {
	top, err := st.Lstat(dir)
	if err != nil {
		return err
	}
	if top.Type != tar.TypeDir {
		return fmt.Errorf("%s is not a directory", dir)
	}
	prefix := strings.TrimSuffix(top.Path, "/") + "/"
	var ents []rootfs.Entry
	for _, e := range st.Entries() {
		if e.Path == top.Path || strings.HasPrefix(e.Path, prefix) {
			ents = append(ents, e)
		}
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].Path < ents[j].Path })
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	name := func(p string) string { return "." + strings.TrimPrefix(p, strings.TrimSuffix(prefix, "/")) }
	for _, e := range ents {
		h := &tar.Header{Name: name(e.Path), Typeflag: e.Type, Mode: e.Mode, Uid: e.Uid, Gid: e.Gid,
			ModTime: e.ModTime, Devmajor: e.Devmajor, Devminor: e.Devminor, Format: tar.FormatPAX}
		switch e.Type {
		case tar.TypeDir:
			if !strings.HasSuffix(h.Name, "/") {
				h.Name += "/"
			}
		case tar.TypeReg:
			h.Size = e.Size
		case tar.TypeSymlink:
			h.Linkname = e.Linkname
		case tar.TypeLink:
			h.Linkname = name(e.Linkname)
		}
		for k, v := range e.Xattrs {
			if h.PAXRecords == nil {
				h.PAXRecords = map[string]string{}
			}
			h.PAXRecords["SCHILY.xattr."+k] = v
		}
		if err := tw.WriteHeader(h); err != nil {
			f.Close()
			return err
		}
		if e.Type == tar.TypeReg {
			in, err := st.Open(e.Path)
			if err == nil {
				_, err = io.Copy(tw, in)
				in.Close()
			}
			if err != nil {
				f.Close()
				return err
			}
		}
	}
	if err := tw.Close(); err != nil {
		f.Close()
		return err
	}
	return errors.Join(f.Sync(), f.Close())
}
