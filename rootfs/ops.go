package rootfs

import (
	"archive/tar"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
)

// Operations for files the build makes itself (the dpkg database,
// sources.list, passwd in native mode, …). Paths are absolute inside the
// root ("/var/lib/dpkg/status"); symlinks among their parent directories
// are followed with the root as "/", a final symlink is not (it is
// replaced, or acted on itself), ".." is refused. Of the Entry argument
// they use Mode (07777), Uid, Gid, ModTime (zero: Options.Epoch), Xattrs
// and Package; the rest is ignored. None of them changes the dpkg file
// lists (Files).

func (s *Stage) opPrep(p string) (clean string, err error) {
	if err := s.checkOpen(); err != nil {
		return "", err
	}
	c, err := cleanName(p)
	if err != nil {
		return "", fmt.Errorf("rootfs: %s: %w", p, err)
	}
	return c, nil
}

func (s *Stage) newMeta(e Entry) *meta {
	t := e.ModTime
	if t.IsZero() {
		t = s.opts.Epoch
	}
	m := &meta{mode: e.Mode & 0o7777, uid: e.Uid, gid: e.Gid, mtime: t.UTC()}
	if len(e.Xattrs) > 0 {
		m.xattrs = maps.Clone(e.Xattrs)
	}
	return m
}

// WriteFile creates or replaces the regular file at path with data. A
// directory there is an error.
func (s *Stage) WriteFile(p string, data []byte, e Entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.opPrep(p)
	if err != nil {
		return err
	}
	defer s.dropTmp()
	if err := s.writeFile(c, data, e); err != nil {
		return fmt.Errorf("rootfs: write %s: %w", p, err)
	}
	return nil
}

func (s *Stage) writeFile(c string, data []byte, e Entry) error {
	parent, base, ex, err := s.parentOf(c)
	if err != nil {
		return err
	}
	if ex != nil && ex.isDir() {
		return errIsDir
	}
	if err := s.saveFull(joinPath(parent.path, base)); err != nil {
		return err
	}
	m := s.newMeta(e)
	m.size = int64(len(data))
	sum := md5.Sum(data)
	m.md5 = hex.EncodeToString(sum[:])
	tmp, err := s.tmpName()
	if err != nil {
		return err
	}
	f, err := s.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, diskFileMode(m.mode))
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = s.root.Rename(tmp, rel(joinPath(parent.path, base)))
	}
	if err != nil {
		s.root.Remove(tmp)
		return err
	}
	if ex != nil {
		s.detach(ex)
	}
	n := &node{typ: tar.TypeReg, pkg: e.Package, m: m}
	m.links = []*node{n}
	s.attach(parent, base, n)
	return nil
}

// Mkdir makes a directory at path; it is an error if anything is there.
func (s *Stage) Mkdir(p string, e Entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.opPrep(p)
	if err != nil {
		return err
	}
	parent, base, ex, err := s.parentOf(c)
	if err == nil && ex != nil {
		err = fs.ErrExist
	}
	if err == nil {
		err = s.mkdir(parent, base, e)
	}
	if err != nil {
		return fmt.Errorf("rootfs: mkdir %s: %w", p, err)
	}
	return nil
}

func (s *Stage) mkdir(parent *node, base string, e Entry) error {
	if err := s.saveFull(joinPath(parent.path, base)); err != nil {
		return err
	}
	if err := s.root.Mkdir(rel(joinPath(parent.path, base)), 0o755); err != nil {
		return err
	}
	s.attach(parent, base, &node{typ: tar.TypeDir, pkg: e.Package, m: s.newMeta(e)})
	return nil
}

// MkdirAll makes path and its missing parents as directories with e's
// metadata. Existing directories, and symlinks to directories, are kept.
func (s *Stage) MkdirAll(p string, e Entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.opPrep(p)
	if err != nil {
		return err
	}
	cur := s.top
	for _, comp := range splitPath(c) {
		_, n, err := s.walk(cur, []string{comp}, true)
		if err != nil {
			return fmt.Errorf("rootfs: mkdir -p %s: %w", p, err)
		}
		if n == nil {
			if ex := cur.kids[comp]; ex != nil {
				// A dangling symlink.
				return fmt.Errorf("rootfs: mkdir -p %s: %s: %w", p, ex.path, fs.ErrExist)
			}
			if err := s.mkdir(cur, comp, e); err != nil {
				return fmt.Errorf("rootfs: mkdir -p %s: %w", p, err)
			}
			n = cur.kids[comp]
		}
		if !n.isDir() {
			return fmt.Errorf("rootfs: mkdir -p %s: %s: %w", p, n.path, errNotDir)
		}
		cur = n
	}
	return nil
}

// Symlink makes path a symlink to target, replacing a non-directory
// there (ln -sf). A directory there is an error.
func (s *Stage) Symlink(target, p string, e Entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.opPrep(p)
	if err != nil {
		return err
	}
	defer s.dropTmp()
	if err := s.symlink(target, c, e); err != nil {
		return fmt.Errorf("rootfs: symlink %s → %s: %w", p, target, err)
	}
	return nil
}

func (s *Stage) symlink(target, c string, e Entry) error {
	if target == "" {
		return errors.New("empty target")
	}
	parent, base, ex, err := s.parentOf(c)
	if err != nil {
		return err
	}
	if ex != nil && ex.isDir() {
		return errIsDir
	}
	if err := s.saveFull(joinPath(parent.path, base)); err != nil {
		return err
	}
	tmp, err := s.tmpName()
	if err != nil {
		return err
	}
	if err := s.root.Symlink(target, tmp); err != nil {
		return err
	}
	if err := s.root.Rename(tmp, rel(joinPath(parent.path, base))); err != nil {
		s.root.Remove(tmp)
		return err
	}
	if ex != nil {
		s.detach(ex)
	}
	m := s.newMeta(e)
	if m.mode == 0 {
		m.mode = 0o777
	}
	m.linkname = target
	s.attach(parent, base, &node{typ: tar.TypeSymlink, pkg: e.Package, m: m})
	return nil
}

// Remove removes the file, symlink or empty directory at path.
func (s *Stage) Remove(p string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.opPrep(p)
	if err != nil {
		return err
	}
	_, _, ex, err := s.parentOf(c)
	if err == nil && ex == nil {
		err = fs.ErrNotExist
	}
	if err == nil && len(ex.kids) > 0 {
		err = errNotEmpty
	}
	if err == nil {
		err = s.saveFull(ex.path)
	}
	if err == nil {
		err = s.root.Remove(rel(ex.path))
	}
	if err != nil {
		return fmt.Errorf("rootfs: remove %s: %w", p, err)
	}
	s.detach(ex)
	return nil
}

// RemoveAll removes path and everything under it; nothing there is not
// an error.
func (s *Stage) RemoveAll(p string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.opPrep(p)
	if err != nil {
		return err
	}
	_, _, ex, err := s.parentOf(c)
	if err == nil && ex != nil {
		err = s.saveFull(ex.path)
	}
	if err == nil && ex != nil {
		err = s.root.RemoveAll(rel(ex.path))
	}
	if err != nil {
		return fmt.Errorf("rootfs: remove -r %s: %w", p, err)
	}
	if ex != nil {
		s.detach(ex)
	}
	return nil
}

// Rename moves oldpath to newpath like rename(2): a non-directory at
// newpath is replaced, a directory there is an error.
func (s *Stage) Rename(oldpath, newpath string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.rename(oldpath, newpath); err != nil {
		return fmt.Errorf("rootfs: rename %s → %s: %w", oldpath, newpath, err)
	}
	return nil
}

func (s *Stage) rename(oldpath, newpath string) error {
	oc, err := s.opPrep(oldpath)
	if err != nil {
		return err
	}
	nc, err := s.opPrep(newpath)
	if err != nil {
		return err
	}
	_, _, old, err := s.parentOf(oc)
	if err != nil {
		return err
	}
	if old == nil {
		return fs.ErrNotExist
	}
	parent, base, ex, err := s.parentOf(nc)
	if err != nil {
		return err
	}
	if ex == old {
		return nil
	}
	if ex != nil && ex.isDir() {
		return fs.ErrExist
	}
	for a := parent; a != nil; a = a.parent {
		if a == old {
			return errors.New("cannot move a directory into itself")
		}
	}
	if err := s.saveFull(old.path); err != nil {
		return err
	}
	if err := s.saveFull(joinPath(parent.path, base)); err != nil {
		return err
	}
	if err := s.root.Rename(rel(old.path), rel(joinPath(parent.path, base))); err != nil {
		return err
	}
	if ex != nil {
		s.detach(ex)
	}
	s.move(old, parent, base)
	return nil
}

// Update changes the table's metadata of the entry at path (a final
// symlink is not followed): fn gets the current entry and may change
// Mode, Uid, Gid, ModTime, Xattrs, Package and, for devices, Devmajor
// and Devminor. For a hard-linked file this changes all its links.
func (s *Stage) Update(p string, fn func(*Entry)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.opPrep(p)
	if err != nil {
		return err
	}
	_, n, err := s.resolve(c, false)
	if err == nil && n == nil {
		err = fs.ErrNotExist
	}
	if err != nil {
		return fmt.Errorf("rootfs: update %s: %w", p, err)
	}
	s.saveMeta(n)
	e := n.entry()
	fn(&e)
	m := n.m
	oldDisk := diskFileMode(m.mode)
	m.mode, m.uid, m.gid = e.Mode&0o7777, e.Uid, e.Gid
	if !e.ModTime.IsZero() {
		m.mtime = e.ModTime.UTC()
	}
	m.xattrs = nil
	if len(e.Xattrs) > 0 {
		m.xattrs = maps.Clone(e.Xattrs)
	}
	if n.typ == tar.TypeChar || n.typ == tar.TypeBlock {
		m.devmajor, m.devminor = e.Devmajor, e.Devminor
	}
	n.pkg = e.Package
	if n.typ == tar.TypeReg && diskFileMode(m.mode) != oldDisk {
		if err := s.root.Chmod(rel(n.path), diskFileMode(m.mode)); err != nil {
			return fmt.Errorf("rootfs: update %s: %w", p, err)
		}
	}
	return nil
}

// Open opens the regular file path resolves to (symlinks followed inside
// the root) for reading.
func (s *Stage) Open(p string) (*os.File, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	real, err := s.regular(p)
	if err != nil {
		return nil, err
	}
	f, err := s.root.Open(rel(real))
	if err != nil {
		return nil, fmt.Errorf("rootfs: open %s: %w", p, err)
	}
	return f, nil
}

// regular resolves p to the real path of a regular file (callers hold
// s.mu).
func (s *Stage) regular(p string) (string, error) {
	c, err := s.opPrep(p)
	if err != nil {
		return "", err
	}
	_, n, err := s.resolve(c, true)
	if err == nil && n == nil {
		err = fs.ErrNotExist
	}
	if err == nil && n.typ != tar.TypeReg {
		err = fmt.Errorf("%s is a %s, not a regular file", n.path, typeName(n.typ))
	}
	if err != nil {
		return "", fmt.Errorf("rootfs: open %s: %w", p, err)
	}
	return n.path, nil
}

// ReadFile returns the content of the regular file path resolves to.
func (s *Stage) ReadFile(p string) ([]byte, error) {
	f, err := s.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("rootfs: read %s: %w", p, err)
	}
	return b, nil
}

// List returns the entries of the directory path resolves to, sorted.
func (s *Stage) List(p string) ([]Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.opPrep(p)
	if err != nil {
		return nil, err
	}
	_, n, err := s.resolve(c, true)
	if err == nil && n == nil {
		err = fs.ErrNotExist
	}
	if err == nil && !n.isDir() {
		err = errNotDir
	}
	if err != nil {
		return nil, fmt.Errorf("rootfs: list %s: %w", p, err)
	}
	out := make([]Entry, 0, len(n.kids))
	for _, b := range sortedKids(n) {
		out = append(out, n.kids[b].entry())
	}
	return out, nil
}

// Mknod records a character or block device or a fifo at path (e.Type,
// e.Devmajor, e.Devminor). Only the table has the node: on disk it is an
// empty placeholder file, since an ordinary user cannot mknod.
func (s *Stage) Mknod(p string, e Entry) error {
	switch e.Type {
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
	default:
		return fmt.Errorf("rootfs: mknod %s: type %q is not a device or fifo", p, e.Type)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.opPrep(p)
	if err != nil {
		return err
	}
	defer s.dropTmp()
	if err := s.writeFile(c, nil, e); err != nil {
		return fmt.Errorf("rootfs: mknod %s: %w", p, err)
	}
	_, n, err := s.resolve(c, false)
	if err != nil {
		return fmt.Errorf("rootfs: mknod %s: %w", p, err)
	}
	n.typ = e.Type
	n.m.devmajor, n.m.devminor = e.Devmajor, e.Devminor
	n.m.md5 = ""
	return nil
}
