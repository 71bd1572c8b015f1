package native

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"syscall"
	"time"

	"mvdan.cc/sh/v3/interp"

	"github.com/debstrap/debstrap/rootfs"
)

// The interpreter never touches the host: every path a script opens,
// tests or lists is resolved in the stage's table with the root as "/"
// (chroot semantics), and writes go through the stage.

const maxSymlinks = 40

// resolve turns p (absolute, or relative to dir) into a real path of the
// stage: no symlink among its components, and none at the end if follow.
// exists reports whether the final component is there; a missing parent
// is an error.
func (s *sys) resolve(dir, p string, follow bool) (real string, e rootfs.Entry, exists bool, err error) {
	if p == "" {
		return "", rootfs.Entry{}, false, &fs.PathError{Op: "resolve", Path: p, Err: fs.ErrNotExist}
	}
	if !strings.HasPrefix(p, "/") {
		p = path.Join(dir, p)
	}
	comps := splitComps(p)
	cur := "/"
	links := 0
	for len(comps) > 0 {
		c := comps[0]
		comps = comps[1:]
		switch c {
		case ".":
			continue
		case "..":
			cur = path.Dir(cur)
			continue
		}
		next := path.Join(cur, c)
		ent, ok := s.st.Lookup(next)
		last := len(comps) == 0
		if !ok {
			if last {
				return next, rootfs.Entry{}, false, nil
			}
			return "", rootfs.Entry{}, false, &fs.PathError{Op: "resolve", Path: p, Err: fs.ErrNotExist}
		}
		if ent.Type == tar.TypeSymlink && (!last || follow) {
			if links++; links > maxSymlinks {
				return "", rootfs.Entry{}, false, &fs.PathError{Op: "resolve", Path: p, Err: syscall.ELOOP}
			}
			target := splitComps(ent.Linkname)
			if strings.HasPrefix(ent.Linkname, "/") {
				cur = "/"
			}
			comps = append(target, comps...)
			if len(comps) == 0 {
				// A link to "/" or ".".
				e, _ := s.st.Lookup(cur)
				return cur, e, true, nil
			}
			continue
		}
		if last {
			return next, ent, true, nil
		}
		if ent.Type != tar.TypeDir {
			return "", rootfs.Entry{}, false, &fs.PathError{Op: "resolve", Path: p, Err: syscall.ENOTDIR}
		}
		cur = next
	}
	e, _ = s.st.Lookup(cur)
	return cur, e, true, nil
}

func splitComps(p string) []string {
	var out []string
	for _, c := range strings.Split(p, "/") {
		if c != "" {
			out = append(out, c)
		}
	}
	return out
}

// list is Stage.List. Every package is unpacked before any is
// configured, as in the exec modes' second stage, and scripts see them
// all (a batch's scripts seeing only what mmdebstrap would have unpacked
// by then gave other results than the exec modes: trixie's
// dpkg-db-backup.timer linked without systemctl).
func (s *sys) list(p string) ([]rootfs.Entry, error) {
	return s.st.List(p)
}

// lookup resolves p following symlinks and returns its entry.
func (s *sys) lookup(p string) (rootfs.Entry, bool) {
	_, e, ok, err := s.resolve("/", p, true)
	return e, err == nil && ok
}

// readFile reads the regular file p resolves to.
func (s *sys) readFile(p string) ([]byte, error) {
	if p == "/dev/null" {
		return nil, nil
	}
	if s.bud != nil {
		if data, ok := s.bud.psubData(p); ok {
			return data, nil
		}
	}
	real, e, ok, err := s.resolve("/", p, true)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
	}
	if e.Type == tar.TypeDir {
		return nil, &fs.PathError{Op: "read", Path: p, Err: syscall.EISDIR}
	}
	if e.Type != tar.TypeReg && e.Type != tar.TypeLink {
		return nil, &fs.PathError{Op: "open", Path: p, Err: syscall.ENXIO}
	}
	return s.st.ReadFile(real)
}

// writeFile writes data to the file p resolves to, keeping the owner and
// mode of a file already there; a new file gets e's. Its size counts
// against the writes limit of the script running.
func (s *sys) writeFile(p string, data []byte, e rootfs.Entry) error {
	if s.bud != nil && !s.bud.addWrites(int64(len(data))) {
		return &fs.PathError{Op: "write", Path: p, Err: errWriteLimit}
	}
	return s.writeFileCounted(p, data, e)
}

// writeFileCounted is writeFile for data already counted.
func (s *sys) writeFileCounted(p string, data []byte, e rootfs.Entry) error {
	real, old, ok, err := s.resolve("/", p, true)
	if err != nil {
		return err
	}
	if ok {
		if old.Type == tar.TypeDir {
			return &fs.PathError{Op: "write", Path: p, Err: syscall.EISDIR}
		}
		if old.Type == tar.TypeReg || old.Type == tar.TypeLink {
			e.Mode, e.Uid, e.Gid, e.Xattrs = old.Mode, old.Uid, old.Gid, nil
		}
	}
	if err := s.st.WriteFile(real, data, e); err != nil {
		return &stageError{err}
	}
	return nil
}

// exists reports whether p is there (a dangling symlink counts).
func (s *sys) exists(p string) bool {
	_, _, ok, err := s.resolve("/", p, false)
	return err == nil && ok
}

// fileInfo presents a table entry to the interpreter.
type fileInfo struct{ e rootfs.Entry }

func (fi fileInfo) Name() string       { return path.Base(fi.e.Path) }
func (fi fileInfo) Size() int64        { return fi.e.Size }
func (fi fileInfo) ModTime() time.Time { return fi.e.ModTime }
func (fi fileInfo) IsDir() bool        { return fi.e.Type == tar.TypeDir }
func (fi fileInfo) Mode() fs.FileMode {
	m := fs.FileMode(fi.e.Mode & 0o777)
	if fi.e.Mode&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if fi.e.Mode&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if fi.e.Mode&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	switch fi.e.Type {
	case tar.TypeDir:
		m |= fs.ModeDir
	case tar.TypeSymlink:
		m |= fs.ModeSymlink
	case tar.TypeChar:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case tar.TypeBlock:
		m |= fs.ModeDevice
	case tar.TypeFifo:
		m |= fs.ModeNamedPipe
	}
	return m
}

// Sys gives the owner, for test -O and -G.
func (fi fileInfo) Sys() any {
	return &syscall.Stat_t{Uid: uint32(fi.e.Uid), Gid: uint32(fi.e.Gid), Mode: uint32(fi.e.Mode)}
}

// The interpreter handlers.

func (s *sys) statHandler(ctx context.Context, name string, follow bool) (fs.FileInfo, error) {
	if fi, ok := devInfo(name); ok {
		return fi, nil
	}
	_, e, ok, err := s.resolve("/", name, follow)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
	}
	return fileInfo{e}, nil
}

func (s *sys) accessHandler(ctx context.Context, name string, mode interp.AccessMode) error {
	if _, ok := devInfo(name); ok {
		return nil
	}
	_, e, ok, err := s.resolve("/", name, true)
	if err != nil {
		return err
	}
	if !ok {
		return &fs.PathError{Op: "access", Path: name, Err: fs.ErrNotExist}
	}
	// Scripts run as root: reading and writing are always allowed,
	// executing needs an x bit on anything but a directory.
	if mode&interp.AccessExec != 0 && e.Type != tar.TypeDir && e.Mode&0o111 == 0 {
		return &fs.PathError{Op: "access", Path: name, Err: fs.ErrPermission}
	}
	return nil
}

func (s *sys) readDirHandler(ctx context.Context, name string) ([]fs.DirEntry, error) {
	real, e, ok, err := s.resolve("/", name, true)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: fs.ErrNotExist}
	}
	if e.Type != tar.TypeDir {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: syscall.ENOTDIR}
	}
	ents, err := s.list(real)
	if err != nil {
		return nil, err
	}
	out := make([]fs.DirEntry, len(ents))
	for i, e := range ents {
		out[i] = fs.FileInfoToDirEntry(fileInfo{e})
	}
	return out, nil
}

// devInfo answers for the device nodes scripts redirect to.
func devInfo(name string) (fs.FileInfo, bool) {
	switch name {
	case "/dev/null", "/dev/stdout", "/dev/stderr", "/dev/stdin":
		return fileInfo{rootfs.Entry{Path: name, Type: tar.TypeChar, Mode: 0o666}}, true
	}
	return nil, false
}

func (s *sys) openHandler(ctx context.Context, name string, flag int, perm os.FileMode) (io.ReadWriteCloser, error) {
	hc := interp.HandlerCtx(ctx)
	switch name {
	case "/dev/null":
		return nullFile{}, nil
	case "/dev/stdout":
		return writeOnly{hc.Stdout}, nil
	case "/dev/stderr":
		return writeOnly{hc.Stderr}, nil
	}
	if b := budgetOf(ctx); b != nil && flag&(os.O_WRONLY|os.O_RDWR) == 0 {
		if data, ok := b.psubData(name); ok {
			return readOnly{bytes.NewReader(data)}, nil
		}
	}
	if strings.HasPrefix(name, "/dev/") || strings.HasPrefix(name, "/proc/") || strings.HasPrefix(name, "/sys/") {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	if flag&(os.O_WRONLY|os.O_RDWR) == 0 {
		if name == confmodulePath && s.exists(name) {
			// debconf's shell library: ours talks to the Go frontend.
			return readOnly{strings.NewReader(confmoduleShim)}, nil
		}
		data, err := s.readFile(name)
		if err != nil {
			return nil, err
		}
		return readOnly{bytes.NewReader(data)}, nil
	}
	real, e, ok, err := s.resolve("/", name, true)
	if err != nil {
		return nil, err
	}
	if ok && e.Type == tar.TypeDir {
		return nil, &fs.PathError{Op: "open", Path: name, Err: syscall.EISDIR}
	}
	if !ok && flag&os.O_CREATE == 0 {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	if ok && flag&os.O_CREATE != 0 && flag&os.O_EXCL != 0 {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrExist}
	}
	w := &stageFile{s: s, b: budgetOf(ctx), path: real, mode: int64(perm.Perm())}
	if ok && flag&os.O_TRUNC == 0 {
		old, err := s.st.ReadFile(real)
		if err != nil {
			return nil, err
		}
		w.buf.Write(old)
		if flag&os.O_APPEND == 0 {
			// Overwriting in place from the start (<>): rare enough to
			// treat as a rewrite of the whole file.
			w.buf.Reset()
		}
		w.base = w.buf.Len()
	}
	return w, nil
}

// stageFile collects what a redirection writes and puts it into the stage
// on Close.
type stageFile struct {
	s    *sys
	b    *budget // nil outside a script
	path string
	mode int64
	buf  bytes.Buffer
	base int // bytes of the file kept from before (an append)
}

var errWriteLimit = errors.New("write limit reached")

func (f *stageFile) Read([]byte) (int, error) { return 0, errors.New("file opened for writing") }

// Write refuses to grow the buffer past the writes limit: a loop
// appending to a file would otherwise fill memory.
func (f *stageFile) Write(p []byte) (int, error) {
	if f.b != nil && !f.b.canWrite(int64(f.buf.Len()+len(p)-f.base)) {
		return 0, errWriteLimit
	}
	return f.buf.Write(p)
}

func (f *stageFile) Close() error {
	if f.b != nil && (f.b.tripped.Load() || !f.b.addWrites(int64(f.buf.Len()-f.base))) {
		return &fs.PathError{Op: "write", Path: f.path, Err: errWriteLimit}
	}
	return f.s.writeFileCounted(f.path, f.buf.Bytes(), rootfs.Entry{Mode: f.mode})
}

type nullFile struct{}

func (nullFile) Read([]byte) (int, error)    { return 0, io.EOF }
func (nullFile) Write(p []byte) (int, error) { return len(p), nil }
func (nullFile) Close() error                { return nil }

type readOnly struct{ io.Reader }

func (readOnly) Write([]byte) (int, error) { return 0, errors.New("file opened for reading") }
func (readOnly) Close() error              { return nil }

type writeOnly struct{ io.Writer }

func (writeOnly) Read([]byte) (int, error) { return 0, errors.New("file opened for writing") }
func (writeOnly) Close() error             { return nil }
