package rootfs

import (
	"archive/tar"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// TarReader is a tar stream: *archive/tar.Reader, or deb's DataReader.
type TarReader interface {
	Next() (*tar.Header, error)
	Read(p []byte) (int, error)
}

// Unpacked is what unpacking one package did, for the dpkg database.
type Unpacked struct {
	Package string
	// Paths is the package's info/PKG.list at the time it was unpacked:
	// every path as shipped ("/bin/bash" even when merged /usr stores it
	// at /usr/bin/bash), directories included, in archive order, "/."
	// first. Stage.Files gives the list as later packages left it.
	Paths []string
	// MD5 maps each regular file (and hard link) to the hex MD5 of the
	// content written, to verify against the package's md5sums.
	MD5 map[string]string
	// Conflicts are the paths another package already had.
	Conflicts []Conflict
}

// Prepared is a package read and checked but not yet applied to the
// root: its regular files sit in a scratch directory inside the staging
// directory, to be renamed into place by Commit.
type Prepared struct {
	s         *Stage
	pkg       string
	spool     string   // scratch directory, relative to the root; "" until needed
	spoolRoot *os.Root // the scratch directory
	ents      []pent
	seq       int
	mem       int64 // content bytes held in memory
	mu        sync.Mutex
	state     int               // 0 prepared, 1 committed or discarded
	sums      map[string]string // see PrepareSums
}

// known is the MD5 sums gives for name, lower case ("" if none, or not a
// hex MD5).
func (p *Prepared) known(name string) string {
	v := p.sums[name]
	if _, err := hex.DecodeString(v); err != nil || len(v) != 2*md5.Size {
		return ""
	}
	return strings.ToLower(v)
}

// Small files are held in memory between Prepare and Commit (most files
// of a Debian system are a few KiB), which saves a scratch file and a
// rename each; larger ones, or beyond the budget, go to the scratch
// directory.
const (
	maxMemFile    = 256 << 10
	maxMemPackage = 64 << 20
)

// pent is one tar entry, checked.
type pent struct {
	raw                string // name in the tar, for messages
	name               string // clean, relative; "" for the root
	typ                byte
	mode               int64
	uid, gid           int
	size               int64
	link               string // symlink target verbatim, or clean hard link target
	devmajor, devminor int64
	xattrs             map[string]string
	mtime              time.Time
	data               []byte // regular files: content, if held in memory (non-nil, maybe empty)
	file               string // regular files: else the scratch file (relative to the root)
	md5                string
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// Unpack extracts one package's data.tar into the root, as dpkg --unpack
// would place its files. It is Prepare followed by Commit.
func (s *Stage) Unpack(pkg string, tr TarReader) (*Unpacked, error) {
	p, err := s.Prepare(pkg, tr)
	if err != nil {
		return nil, err
	}
	return p.Commit()
}

// Prepare reads a package's whole data.tar: it checks every entry name
// (no "..", no NUL or newline, a known type) and writes the regular
// files' contents, with their MD5, to a scratch directory of the stage.
// Nothing of the root changes, so a corrupt or hostile archive leaves
// no trace. Prepare for different packages may run concurrently (the
// decompression of several packages at once); Commit then applies them
// in the order it is called, which alone decides the result.
func (s *Stage) Prepare(pkg string, tr TarReader) (*Prepared, error) {
	return s.PrepareSums(pkg, tr, nil)
}

// PrepareSums is Prepare taking the MD5 of each regular file that sums
// names (the package's md5sums: clean relative path → hex digest) from
// there instead of hashing the content, as dpkg installs the package's
// own md5sums rather than computing them. A file sums lacks (conffiles,
// which md5sums leaves out) is hashed.
func (s *Stage) PrepareSums(pkg string, tr TarReader, sums map[string]string) (*Prepared, error) {
	if pkg == "" {
		return nil, errors.New("rootfs: unpack: empty package name")
	}
	s.mu.Lock()
	err := s.checkOpen()
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	p := &Prepared{s: s, pkg: pkg, sums: sums}
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	last := ""
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			p.Discard()
			where := "at the start"
			if last != "" {
				where = fmt.Sprintf("after %q", last)
			}
			return nil, fmt.Errorf("rootfs: unpack %s: reading data.tar %s: %w", pkg, where, err)
		}
		e, err := p.read(h, tr, *bp)
		if err != nil {
			p.Discard()
			return nil, fmt.Errorf("rootfs: unpack %s: entry %q: %w", pkg, h.Name, err)
		}
		p.ents = append(p.ents, e)
		last = h.Name
	}
	return p, nil
}

func (p *Prepared) read(h *tar.Header, r io.Reader, buf []byte) (pent, error) {
	name, err := cleanName(h.Name)
	if err != nil {
		return pent{}, err
	}
	e := pent{
		raw:      h.Name,
		name:     name,
		typ:      h.Typeflag,
		mode:     h.Mode & 0o7777,
		uid:      h.Uid,
		gid:      h.Gid,
		devmajor: h.Devmajor,
		devminor: h.Devminor,
		mtime:    h.ModTime.UTC(),
	}
	for k, v := range h.PAXRecords {
		if x, ok := strings.CutPrefix(k, "SCHILY.xattr."); ok {
			if e.xattrs == nil {
				e.xattrs = make(map[string]string)
			}
			e.xattrs[x] = v
		}
	}
	if e.typ == tar.TypeRegA {
		e.typ = tar.TypeReg
	}
	if name == "" && e.typ != tar.TypeDir {
		return pent{}, fmt.Errorf("the root is a %s, not a directory", typeName(e.typ))
	}
	switch e.typ {
	case tar.TypeReg:
		if h.Size < 0 {
			return pent{}, fmt.Errorf("negative size %d", h.Size)
		}
		e.size = h.Size
		if h.Size <= maxMemFile && p.mem+h.Size <= maxMemPackage {
			e.data = make([]byte, h.Size)
			if _, err := io.ReadFull(r, e.data); err != nil {
				return pent{}, noEOF(err)
			}
			p.mem += h.Size
			if e.md5 = p.known(e.name); e.md5 == "" {
				sum := md5.Sum(e.data)
				e.md5 = hex.EncodeToString(sum[:])
			}
			break
		}
		name, err := p.scratch()
		if err != nil {
			return pent{}, err
		}
		e.file = p.spool + "/" + name
		f, err := p.spoolRoot.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, diskFileMode(e.mode))
		if err != nil {
			return pent{}, err
		}
		var w io.Writer = f
		e.md5 = p.known(e.name)
		sum := md5.New()
		if e.md5 == "" {
			w = io.MultiWriter(f, sum)
		}
		n, err := io.CopyBuffer(w, r, buf)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return pent{}, err
		}
		if n != h.Size {
			return pent{}, fmt.Errorf("content is %d bytes, header says %d: %w", n, h.Size, io.ErrUnexpectedEOF)
		}
		if e.md5 == "" {
			e.md5 = hex.EncodeToString(sum.Sum(nil))
		}
	case tar.TypeSymlink:
		if h.Linkname == "" {
			return pent{}, errors.New("symlink with an empty target")
		}
		if strings.ContainsRune(h.Linkname, 0) {
			return pent{}, errors.New("symlink target contains a NUL")
		}
		e.link = h.Linkname
	case tar.TypeLink:
		t, err := cleanName(h.Linkname)
		if err != nil {
			return pent{}, fmt.Errorf("hard link target %q: %w", h.Linkname, err)
		}
		if t == "" {
			return pent{}, errors.New("hard link to the root")
		}
		e.link = t
	case tar.TypeDir, tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
	default:
		// dpkg: "archive contained object of unknown type".
		return pent{}, fmt.Errorf("unsupported tar entry type %q", e.typ)
	}
	return e, nil
}

// Discard drops a Prepared package without applying it.
func (p *Prepared) Discard() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state != 0 {
		return nil
	}
	p.state = 1
	return p.cleanup()
}

// scratch returns a fresh name in the package's scratch directory,
// making the directory on first use.
func (p *Prepared) scratch() (string, error) {
	if p.spoolRoot == nil {
		name := spoolPrefix + randomSuffix()
		if err := p.s.root.Mkdir(name, 0o700); err != nil {
			return "", err
		}
		r, err := p.s.root.OpenRoot(name)
		if err != nil {
			p.s.root.Remove(name)
			return "", err
		}
		p.spool, p.spoolRoot = name, r
	}
	p.seq++
	return strconv.Itoa(p.seq), nil
}

func (p *Prepared) cleanup() error {
	if p.spoolRoot == nil {
		return nil
	}
	p.spoolRoot.Close()
	p.spoolRoot = nil
	return p.s.root.RemoveAll(p.spool)
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// Package is the name of the prepared package.
func (p *Prepared) Package() string { return p.pkg }

// Commit applies the package to the root, entry by entry in archive
// order, following dpkg's rules:
//
//   - a directory where a directory (or a symlink to one) exists is
//     merged: the existing one and its metadata stay;
//   - a symlink where a directory exists, or where a symlink to the same
//     directory exists, leaves the directory alone (so a package shipping
//     /lib → usr/lib over a real /lib changes nothing, as with dpkg);
//   - any other entry replaces what is there; if another package lists
//     the same path, Options.OnConflict decides (Replace, KeepExisting or
//     an error), as Replaces does for dpkg;
//   - a non-directory never replaces a non-empty directory;
//   - a hard link must name a regular file already in the root (from
//     this or an earlier package), resolved inside the root.
//
// Every path is resolved in the table with the root as "/", so no
// entry reaches outside the root, whatever symlinks earlier entries
// made. An error leaves the package partly applied; the build should be
// abandoned.
func (p *Prepared) Commit() (*Unpacked, error) {
	s := p.s
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state != 0 {
		return nil, fmt.Errorf("rootfs: unpack %s: already committed or discarded", p.pkg)
	}
	p.state = 1
	defer p.cleanup()

	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	if _, dup := s.pkgs[p.pkg]; dup {
		return nil, fmt.Errorf("rootfs: unpack %s: package already unpacked", p.pkg)
	}
	s.noRollback()
	rec := newPkgRec()
	s.pkgs[p.pkg] = rec
	s.order = append(s.order, p.pkg)
	res := &Unpacked{Package: p.pkg, MD5: make(map[string]string)}
	for i := range p.ents {
		e := &p.ents[i]
		if err := s.apply(p, e, rec, res); err != nil {
			return nil, fmt.Errorf("rootfs: unpack %s: %s: %w", p.pkg, e.raw, err)
		}
	}
	res.Paths = rec.files()
	s.log.Debug("unpacked", "package", p.pkg, "entries", len(p.ents), "conflicts", len(res.Conflicts))
	return res, nil
}

func (s *Stage) apply(p *Prepared, e *pent, rec *pkgRec, res *Unpacked) error {
	name := listName(e.name)
	if e.name == "" {
		rec.add(name)
		s.addOwner(name, p.pkg)
		return nil
	}
	if s.opts.Skip != nil && s.opts.Skip(name, e.typ == tar.TypeDir || e.typ == tar.TypeSymlink) {
		// Filtered out (path-exclude): not unpacked, yet listed, as dpkg
		// keeps it.
		rec.add(name)
		s.addOwner(name, p.pkg)
		return nil
	}
	parent, base, ex, err := s.parentOf(e.name)
	if err != nil {
		return err
	}

	// dpkg's "existingdir": nothing to do, and no conflict either.
	existingDir := false
	if ex != nil {
		switch e.typ {
		case tar.TypeDir:
			if ex.isDir() {
				existingDir = true
			} else if ex.typ == tar.TypeSymlink {
				_, t, err := s.walk(parent, []string{base}, true)
				existingDir = err == nil && t != nil && t.isDir()
			}
		case tar.TypeSymlink:
			if ex.isDir() {
				existingDir = true
			} else if ex.typ == tar.TypeSymlink {
				existingDir = s.sameDir(parent, base, e.link)
			}
		}
	}
	if existingDir {
		if ex.isDir() && ex.pkg == "" {
			ex.pkg, ex.name = p.pkg, name
		}
		if e.typ == tar.TypeSymlink && ex.isDir() {
			s.log.Debug("symlink not made: a directory is there", "package", p.pkg, "path", name, "target", e.link)
		}
		rec.add(name)
		s.addOwner(name, p.pkg)
		return nil
	}

	// dpkg's file conflict check, by shipped path.
	keep := false
	var replaced []string
	for _, o := range s.owners[name] {
		if o == p.pkg {
			continue
		}
		if ex == nil && e.typ == tar.TypeDir {
			continue // dpkg assumes a shared directory
		}
		c := Conflict{Path: name, Old: o, New: p.pkg, Resolution: Replace}
		if s.opts.OnConflict != nil {
			r, err := s.opts.OnConflict(c)
			if err != nil {
				return fmt.Errorf("%s is also in package %s: %w", name, o, err)
			}
			c.Resolution = r
		} else {
			s.log.Warn("package overwrites a file of another package", "path", name, "old", o, "new", p.pkg)
		}
		res.Conflicts = append(res.Conflicts, c)
		if c.Resolution == KeepExisting {
			keep = true
		} else {
			replaced = append(replaced, o)
		}
	}
	if keep {
		return nil
	}
	if ex != nil && ex.isDir() && len(ex.kids) > 0 {
		return fmt.Errorf("cannot replace non-empty directory %s with a %s", ex.path, typeName(e.typ))
	}
	if ex != nil && !ex.isDir() && ex.pkg != "" && ex.pkg != p.pkg && ex.name != name {
		s.log.Warn("package overwrites a file of another package through an aliased path",
			"path", name, "real", ex.path, "old", ex.pkg, "oldpath", ex.name, "new", p.pkg)
		res.Conflicts = append(res.Conflicts, Conflict{Path: name, Old: ex.pkg, New: p.pkg, Aliased: true})
	}
	if err := s.place(p, e, parent, base, ex, name); err != nil {
		return err
	}
	for _, o := range replaced {
		if r := s.pkgs[o]; r != nil && r.have[name] {
			r.have[name] = false
		}
		s.dropOwner(name, o)
	}
	rec.add(name)
	s.addOwner(name, p.pkg)
	if n := parent.kids[base]; n != nil && n.typ == tar.TypeReg {
		rec.md5[name] = n.m.md5
		res.MD5[name] = n.m.md5
	}
	return nil
}

// sameDir reports whether the symlink at parent/base and a symlink with
// target would both lead to the same existing directory (dpkg's
// linktosameexistingdir).
func (s *Stage) sameDir(parent *node, base, target string) bool {
	_, old, err := s.walk(parent, []string{base}, true)
	if err != nil || old == nil || !old.isDir() {
		return false
	}
	start := parent
	if strings.HasPrefix(target, "/") {
		start = s.top
	}
	_, nw, err := s.walk(start, splitPath(target), true)
	return err == nil && nw == old
}

// place puts entry e at parent/base, replacing ex (checked by the caller:
// absent, a non-directory, or an empty directory).
func (s *Stage) place(p *Prepared, e *pent, parent *node, base string, ex *node, name string) error {
	if e.typ == tar.TypeLink {
		return s.placeLink(p, e, parent, base, ex, name)
	}
	real := joinPath(parent.path, base)
	if ex != nil && (ex.isDir() || e.typ == tar.TypeDir) {
		// One of the two is a directory: no atomic replace.
		if err := s.root.Remove(rel(real)); err != nil {
			return err
		}
		s.detach(ex)
		ex = nil
	}
	if ex == nil {
		// The common case: nothing there, create in place.
		d, err := s.dirRoot(parent)
		if err != nil {
			return err
		}
		switch e.typ {
		case tar.TypeDir:
			err = d.Mkdir(base, 0o755)
		case tar.TypeReg:
			if e.data != nil {
				err = writeNew(d, base, e.data, e.mode)
			} else {
				err = s.root.Rename(e.file, rel(real))
			}
		case tar.TypeSymlink:
			err = d.Symlink(e.link, base)
		default:
			// No mknod: an empty placeholder keeps the path on disk.
			err = writeNew(d, base, nil, 0o644)
		}
		if err != nil {
			return err
		}
	} else {
		// Made beside, then renamed over the old one (dpkg's .dpkg-new).
		tmp, err := p.scratch()
		if err != nil {
			return err
		}
		switch e.typ {
		case tar.TypeReg:
			if e.data != nil {
				err = writeNew(p.spoolRoot, tmp, e.data, e.mode)
			} else {
				tmp = strings.TrimPrefix(e.file, p.spool+"/")
			}
		case tar.TypeSymlink:
			err = p.spoolRoot.Symlink(e.link, tmp)
		default:
			err = writeNew(p.spoolRoot, tmp, nil, 0o644)
		}
		if err == nil {
			err = s.root.Rename(p.spool+"/"+tmp, rel(real))
		}
		if err != nil {
			return err
		}
		s.detach(ex)
	}
	m := &meta{mode: e.mode, uid: e.uid, gid: e.gid, xattrs: e.xattrs, mtime: e.mtime}
	n := &node{typ: e.typ, pkg: p.pkg, name: name, m: m}
	switch e.typ {
	case tar.TypeReg:
		m.size, m.md5 = e.size, e.md5
		m.links = []*node{n}
	case tar.TypeSymlink:
		m.linkname = e.link
	case tar.TypeChar, tar.TypeBlock:
		m.devmajor, m.devminor = e.devmajor, e.devminor
	}
	s.attach(parent, base, n)
	return nil
}

// writeNew creates name in d, which must not exist, with data.
func writeNew(d *os.Root, name string, data []byte, mode int64) error {
	f, err := d.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, diskFileMode(mode))
	if err != nil {
		return err
	}
	if len(data) > 0 {
		_, err = f.Write(data)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (s *Stage) placeLink(p *Prepared, e *pent, parent *node, base string, ex *node, name string) error {
	real := joinPath(parent.path, base)
	_, t, err := s.resolve(e.link, false)
	if err != nil {
		return fmt.Errorf("hard link target /%s: %w", e.link, err)
	}
	if t == nil {
		return fmt.Errorf("hard link target /%s: %w (it must be unpacked before the link)", e.link, fs.ErrNotExist)
	}
	if t.typ != tar.TypeReg {
		return fmt.Errorf("hard link target %s is a %s, not a regular file", t.path, typeName(t.typ))
	}
	m := t.m
	// As dpkg chowns and chmods the new link, the inode takes the link
	// entry's metadata.
	oldExec := diskFileMode(m.mode)
	m.mode, m.uid, m.gid, m.mtime = e.mode, e.uid, e.gid, e.mtime
	if len(e.xattrs) > 0 {
		m.xattrs = e.xattrs
	}
	if ex != nil && ex.m == m {
		// Already a link to that file (or the file itself).
		ex.pkg, ex.name = p.pkg, name
	} else {
		if ex != nil && ex.isDir() {
			if err := s.root.Remove(rel(real)); err != nil {
				return err
			}
			s.detach(ex)
			ex = nil
		}
		if ex == nil {
			if err := s.root.Link(rel(t.path), rel(real)); err != nil {
				return err
			}
		} else {
			tmp, err := p.scratch()
			if err != nil {
				return err
			}
			tmp = p.spool + "/" + tmp
			if err := s.root.Link(rel(t.path), tmp); err != nil {
				return err
			}
			if err := s.root.Rename(tmp, rel(real)); err != nil {
				return err
			}
			s.detach(ex)
		}
		n := &node{typ: tar.TypeReg, pkg: p.pkg, name: name, m: m}
		m.links = append(m.links, n)
		s.attach(parent, base, n)
	}
	if mode := diskFileMode(m.mode); mode != oldExec {
		if err := s.root.Chmod(rel(real), mode); err != nil {
			return err
		}
	}
	return nil
}
