package manifest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"time"

	"golang.org/x/sys/unix"
)

// The contents ReadFiles keeps in memory: at most MaxFileContent bytes of
// one file, MaxFilesContent of all of them together (files of the same
// content counted once, contents a later layer replaced or removed not
// counted). More is an error naming the file.
const (
	MaxFileContent  = 16 << 20
	MaxFilesContent = 64 << 20
)

// The limits in force, lowered by tests.
var maxFile, maxFiles int64 = MaxFileContent, MaxFilesContent

// ErrNotRead is the error Files gives for a regular file whose content
// ReadFiles was not asked to read.
var ErrNotRead = errors.New("content not read")

// Files is a root's manifest and the contents of the regular files
// ReadFiles was asked for.
//
// Files is an fs.FS over the root, with fs.ReadFileFS and fs.ReadLinkFS:
// names are unrooted, "etc/os-release" for /etc/os-release, "." for the
// root. Open and ReadFile do not follow symbolic links, neither the last
// component nor directories on the way: an image is not a mounted
// filesystem, and where a link leads is the caller's to decide (with
// ReadLink and Lstat, inside the root as chroot would).
type Files struct {
	Manifest *Manifest
	data     map[string][]byte // content by hex SHA-256
}

// ReadFiles reads the image at name, any kind Read accepts but a saved
// manifest, and keeps the content of each regular file whose path (as
// in Entry.Path: "/etc/os-release") want accepts. In an image with
// layers, what counts is the file the layers leave there, whiteouts
// honoured.
func ReadFiles(ctx context.Context, name string, want func(path string) bool) (*Files, error) {
	k := &keeper{want: want, data: map[string][]byte{}}
	m, err := read(ctx, name, k)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	live := map[string]bool{}
	for _, e := range m.Entries {
		if e.Type == TypeFile && want(e.Path) {
			live[e.SHA256] = true
		}
	}
	for sum := range k.data {
		if !live[sum] {
			delete(k.data, sum)
		}
	}
	return &Files{Manifest: m, data: k.data}, nil
}

// keeper holds the contents of wanted files while a root is read.
type keeper struct {
	want  func(string) bool
	data  map[string][]byte // content by hex SHA-256
	total int64             // bytes in data
}

func (k *keeper) wants(p string) bool { return k != nil && k.want(p) }

func (k *keeper) has(sum string) bool {
	_, ok := k.data[sum]
	return ok
}

// read keeps the size bytes of p's content that r holds and returns their
// hex SHA-256.
func (k *keeper) read(t *tree, p string, r io.Reader, size int64) (string, error) {
	if size > maxFile {
		return "", fmt.Errorf("%s: %d bytes, more than the %d read of one file", p, size, maxFile)
	}
	data := make([]byte, size)
	if _, err := io.ReadFull(r, data); err != nil {
		return "", fmt.Errorf("reading %s: %w", p, err)
	}
	return k.add(t, p, data)
}

// readFile keeps the content of p, the host's file hp of size bytes.
func (k *keeper) readFile(t *tree, p, hp string, size int64) (string, error) {
	if size > maxFile {
		return "", fmt.Errorf("%s: %d bytes, more than the %d read of one file", p, size, maxFile)
	}
	f, err := os.OpenFile(hp, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return "", err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, size+1))
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", hp, err)
	}
	if int64(len(data)) != size {
		return "", fmt.Errorf("%s changed while being read", hp)
	}
	return k.add(t, p, data)
}

func (k *keeper) add(t *tree, p string, data []byte) (string, error) {
	h := sha256.Sum256(data)
	sum := hex.EncodeToString(h[:])
	if k.has(sum) {
		return sum, nil
	}
	n := int64(len(data))
	if k.total+n > maxFiles {
		k.drop(t, p)
		if k.total+n > maxFiles {
			return "", fmt.Errorf("%s: the files read hold more than %d bytes", p, maxFiles)
		}
	}
	k.data[sum] = data
	k.total += n
	return sum, nil
}

// drop forgets the contents no wanted path of t holds any longer (those a
// later layer replaced or whited out), nor replacing, the path replacing
// holds.
func (k *keeper) drop(t *tree, replacing string) {
	live := map[string]bool{}
	for p, n := range t.paths {
		if p != replacing && n.e.Type == TypeFile && k.want(p) {
			live[n.e.SHA256] = true
		}
	}
	for sum, data := range k.data {
		if !live[sum] {
			delete(k.data, sum)
			k.total -= int64(len(data))
		}
	}
}

// entry is the manifest entry of an fs.FS name.
func (f *Files) entry(op, name string) (Entry, error) {
	if !fs.ValidPath(name) {
		return Entry{}, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	p := "/" + name
	if name == "." {
		p = "/"
	}
	e, ok := f.Manifest.Lookup(p)
	if !ok {
		return Entry{}, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
	}
	return e, nil
}

// content is a regular file's kept content.
func (f *Files) content(op, name string) ([]byte, Entry, error) {
	e, err := f.entry(op, name)
	if err != nil {
		return nil, e, err
	}
	switch e.Type {
	case TypeFile:
	case TypeSymlink:
		return nil, e, &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("a symbolic link to %s, not followed", e.Link)}
	default:
		return nil, e, &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("a %s, not a regular file", e.Type)}
	}
	data, ok := f.data[e.SHA256]
	if !ok {
		return nil, e, &fs.PathError{Op: op, Path: name, Err: ErrNotRead}
	}
	return data, e, nil
}

// Open opens a regular file whose content was read, or a directory (which
// can only be Stat'ed).
func (f *Files) Open(name string) (fs.File, error) {
	e, err := f.entry("open", name)
	if err != nil {
		return nil, err
	}
	if e.Type == TypeDir {
		return &openFile{info: fileInfo{e}}, nil
	}
	data, e, err := f.content("open", name)
	if err != nil {
		return nil, err
	}
	return &openFile{info: fileInfo{e}, r: bytes.NewReader(data)}, nil
}

// ReadFile returns a copy of a regular file's content.
func (f *Files) ReadFile(name string) ([]byte, error) {
	data, _, err := f.content("readfile", name)
	if err != nil {
		return nil, err
	}
	return bytes.Clone(data), nil
}

// ReadLink returns a symbolic link's target, as stored.
func (f *Files) ReadLink(name string) (string, error) {
	e, err := f.entry("readlink", name)
	if err != nil {
		return "", err
	}
	if e.Type != TypeSymlink {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
	}
	return e.Link, nil
}

// Lstat describes the entry at name itself, a symbolic link included.
func (f *Files) Lstat(name string) (fs.FileInfo, error) {
	e, err := f.entry("lstat", name)
	if err != nil {
		return nil, err
	}
	return fileInfo{e}, nil
}

var (
	_ fs.ReadFileFS = (*Files)(nil)
	_ fs.ReadLinkFS = (*Files)(nil)
)

type openFile struct {
	info fileInfo
	r    *bytes.Reader // nil for a directory
}

func (o *openFile) Stat() (fs.FileInfo, error) { return o.info, nil }
func (o *openFile) Close() error               { return nil }

func (o *openFile) Read(b []byte) (int, error) {
	if o.r == nil {
		return 0, &fs.PathError{Op: "read", Path: o.info.e.Path, Err: errors.New("is a directory")}
	}
	return o.r.Read(b)
}

// fileInfo is an Entry as an fs.FileInfo; Sys returns the Entry.
type fileInfo struct{ e Entry }

func (fi fileInfo) Name() string {
	if fi.e.Path == "/" {
		return "."
	}
	return path.Base(fi.e.Path)
}

func (fi fileInfo) Size() int64        { return fi.e.Size }
func (fi fileInfo) ModTime() time.Time { return time.Time{} }
func (fi fileInfo) IsDir() bool        { return fi.e.Type == TypeDir }
func (fi fileInfo) Sys() any           { return fi.e }

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
	case TypeDir:
		m |= fs.ModeDir
	case TypeSymlink:
		m |= fs.ModeSymlink
	case TypeChar:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case TypeBlock:
		m |= fs.ModeDevice
	case TypeFifo:
		m |= fs.ModeNamedPipe
	case TypeSocket:
		m |= fs.ModeSocket
	}
	return m
}
