// Package manifest describes a root filesystem as a sorted list of entries
// (path, type, mode, owner, size, content hash, link target, device
// numbers, xattrs, hardlink group) and compares two of them. It reads a
// directory, a tarball (plain, gzip, xz, zstd or bzip2), an OCI image
// layout directory, an OCI archive, a docker-archive, a squashfs or ext4
// image, or a manifest saved by WriteTo.
//
// The description leaves out what says nothing about the root itself, so
// that the same tree written by different tools compares equal: mtimes,
// user and group names (owners are numeric), the order and spelling of tar
// members ("./etc/" and "etc" are both /etc), which member of a hardlink
// group a tar stores as the file, sizes of directories and symlinks, and
// the mode of symlinks (always 0777 on Linux).
//
// ReadFiles reads a root the same way and also keeps the contents of the
// files a caller asks for, as an fs.FS (the dpkg database and copyright
// files an SBOM is made from).
package manifest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Entry types.
const (
	TypeFile    = "file"
	TypeDir     = "dir"
	TypeSymlink = "symlink"
	TypeChar    = "char"
	TypeBlock   = "block"
	TypeFifo    = "fifo"
	TypeSocket  = "socket" // only in directories: tar cannot hold one
)

// Entry is one path of a root.
type Entry struct {
	Path   string // absolute and clean: "/", "/etc/passwd"
	Type   string // TypeFile, TypeDir, …
	Mode   uint32 // permission bits with setuid, setgid and sticky (07777)
	Uid    int
	Gid    int
	Size   int64  // regular files only
	SHA256 string // hex digest of a regular file's content
	Link   string // symlink target, as stored
	Major  int64  // char and block devices
	Minor  int64
	Xattrs map[string]string // name → raw value; nil when none
	// Hardlink names the group of paths sharing this entry's inode: the
	// least path of the group (so not whichever one a tar happened to
	// store first). Empty when the inode has only this path in the root.
	Hardlink string
}

// Manifest is a root's entries, sorted by path, one per path.
type Manifest struct {
	Entries []Entry
}

// Lookup returns the entry at path p, if any.
func (m *Manifest) Lookup(p string) (Entry, bool) {
	i, ok := slices.BinarySearchFunc(m.Entries, p, func(e Entry, p string) int { return strings.Compare(e.Path, p) })
	if !ok {
		return Entry{}, false
	}
	return m.Entries[i], true
}

// header is the first line of a manifest written by WriteTo; Read
// recognises a saved manifest by it.
const header = "# debstrap manifest 1"

// WriteTo writes the manifest as text, one line per entry:
//
//	PATH TYPE MODE UID:GID [SIZE SHA256 | MAJOR,MINOR | -> TARGET] [hardlink=PATH] [xattr.NAME=HEX]...
//
// Paths, targets and xattr names are escaped (see Escape) so every field
// is one space-free token; xattr values are hex. The text is stable: the
// same root gives the same bytes.
func (m *Manifest) WriteTo(w io.Writer) (int64, error) {
	bw := bufio.NewWriter(w)
	cw := &countWriter{w: bw}
	fmt.Fprintln(cw, header)
	for i := range m.Entries {
		cw.Write(m.Entries[i].appendLine(nil))
	}
	if err := bw.Flush(); err != nil {
		return cw.n, err
	}
	return cw.n, cw.err
}

type countWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countWriter) Write(b []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(b)
	c.n += int64(n)
	c.err = err
	return n, err
}

// String is the entry's manifest line without the newline.
func (e *Entry) String() string {
	b := e.appendLine(nil)
	return string(b[:len(b)-1])
}

func (e *Entry) appendLine(b []byte) []byte {
	b = append(b, Escape(e.Path)...)
	b = append(b, ' ')
	b = append(b, e.Type...)
	b = fmt.Appendf(b, " %04o %d:%d", e.Mode, e.Uid, e.Gid)
	switch e.Type {
	case TypeFile:
		b = fmt.Appendf(b, " %d %s", e.Size, e.SHA256)
	case TypeChar, TypeBlock:
		b = fmt.Appendf(b, " %d,%d", e.Major, e.Minor)
	case TypeSymlink:
		b = append(b, " -> "...)
		b = append(b, Escape(e.Link)...)
	}
	if e.Hardlink != "" {
		b = append(b, " hardlink="...)
		b = append(b, Escape(e.Hardlink)...)
	}
	for _, k := range slices.Sorted(maps.Keys(e.Xattrs)) {
		b = append(b, " xattr."...)
		b = append(b, escape(k, "=")...)
		b = append(b, '=')
		b = hex.AppendEncode(b, []byte(e.Xattrs[k]))
	}
	return append(b, '\n')
}

// Escape makes s one printable, space-free token: a byte that is a space,
// a control character, a backslash or not part of printable UTF-8 becomes
// \ooo (three octal digits), as in ls -b and mtree.
func Escape(s string) string { return escape(s, "") }

func escape(s, also string) string {
	clean := true
	for _, r := range s {
		if r == '\\' || r == utf8.RuneError || !unicode.IsPrint(r) || unicode.IsSpace(r) || strings.ContainsRune(also, r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == '\\' || r == utf8.RuneError || !unicode.IsPrint(r) || unicode.IsSpace(r) || strings.ContainsRune(also, r) {
			for j := range n {
				fmt.Fprintf(&b, "\\%03o", s[i+j])
			}
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// Unescape reverses Escape.
func Unescape(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		if i+3 >= len(s) {
			return "", fmt.Errorf("truncated escape in %q", s)
		}
		v, err := strconv.ParseUint(s[i+1:i+4], 8, 8)
		if err != nil {
			return "", fmt.Errorf("bad escape %q in %q", s[i:i+4], s)
		}
		b.WriteByte(byte(v))
		i += 3
	}
	return b.String(), nil
}

// Parse reads a manifest written by WriteTo.
func Parse(r io.Reader) (*Manifest, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	m := &Manifest{}
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if line == 1 {
			if text != header {
				return nil, fmt.Errorf("line 1: want %q, got %q", header, text)
			}
			continue
		}
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		e, err := parseLine(text)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		m.Entries = append(m.Entries, e)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if line == 0 {
		return nil, errors.New("empty manifest")
	}
	slices.SortStableFunc(m.Entries, func(a, b Entry) int { return strings.Compare(a.Path, b.Path) })
	for i := 1; i < len(m.Entries); i++ {
		if m.Entries[i].Path == m.Entries[i-1].Path {
			return nil, fmt.Errorf("path %s listed twice", m.Entries[i].Path)
		}
	}
	return m, nil
}

func parseLine(text string) (Entry, error) {
	f := strings.Split(text, " ")
	if len(f) < 4 {
		return Entry{}, fmt.Errorf("want at least 4 fields, got %d: %q", len(f), text)
	}
	var e Entry
	var err error
	if e.Path, err = Unescape(f[0]); err != nil {
		return e, err
	}
	if !path.IsAbs(e.Path) || path.Clean(e.Path) != e.Path {
		return e, fmt.Errorf("path %q is not absolute and clean", e.Path)
	}
	e.Type = f[1]
	mode, err := strconv.ParseUint(f[2], 8, 32)
	if err != nil || mode&^0o7777 != 0 {
		return e, fmt.Errorf("%s: bad mode %q", e.Path, f[2])
	}
	e.Mode = uint32(mode)
	uid, gid, ok := strings.Cut(f[3], ":")
	if e.Uid, err = strconv.Atoi(uid); err == nil && ok {
		e.Gid, err = strconv.Atoi(gid)
	}
	if err != nil || !ok {
		return e, fmt.Errorf("%s: bad owner %q", e.Path, f[3])
	}
	rest := f[4:]
	switch e.Type {
	case TypeFile:
		if len(rest) < 2 {
			return e, fmt.Errorf("%s: file without size and sha256", e.Path)
		}
		if e.Size, err = strconv.ParseInt(rest[0], 10, 64); err != nil || e.Size < 0 {
			return e, fmt.Errorf("%s: bad size %q", e.Path, rest[0])
		}
		if _, err := hex.DecodeString(rest[1]); err != nil || len(rest[1]) != 64 {
			return e, fmt.Errorf("%s: bad sha256 %q", e.Path, rest[1])
		}
		e.SHA256 = rest[1]
		rest = rest[2:]
	case TypeChar, TypeBlock:
		if len(rest) < 1 {
			return e, fmt.Errorf("%s: device without numbers", e.Path)
		}
		maj, min, ok := strings.Cut(rest[0], ",")
		if e.Major, err = strconv.ParseInt(maj, 10, 64); err == nil && ok {
			e.Minor, err = strconv.ParseInt(min, 10, 64)
		}
		if err != nil || !ok {
			return e, fmt.Errorf("%s: bad device numbers %q", e.Path, rest[0])
		}
		rest = rest[1:]
	case TypeSymlink:
		if len(rest) < 2 || rest[0] != "->" {
			return e, fmt.Errorf("%s: symlink without -> TARGET", e.Path)
		}
		if e.Link, err = Unescape(rest[1]); err != nil {
			return e, err
		}
		rest = rest[2:]
	case TypeDir, TypeFifo, TypeSocket:
	default:
		return e, fmt.Errorf("%s: unknown type %q", e.Path, e.Type)
	}
	for _, kv := range rest {
		k, v, ok := strings.Cut(kv, "=")
		switch {
		case !ok:
			return e, fmt.Errorf("%s: bad field %q", e.Path, kv)
		case k == "hardlink":
			if e.Hardlink, err = Unescape(v); err != nil {
				return e, err
			}
		case strings.HasPrefix(k, "xattr."):
			name, err := Unescape(k[len("xattr."):])
			if err != nil {
				return e, err
			}
			val, err := hex.DecodeString(v)
			if err != nil {
				return e, fmt.Errorf("%s: xattr %s: bad hex value", e.Path, name)
			}
			if e.Xattrs == nil {
				e.Xattrs = map[string]string{}
			}
			e.Xattrs[name] = string(val)
		default:
			return e, fmt.Errorf("%s: unknown field %q", e.Path, k)
		}
	}
	return e, nil
}

// Read describes the root at path, which may be:
//   - a directory: walked without following symlinks; owners are those on
//     disk, so a tree unpacked as an ordinary user shows that user;
//   - an OCI image layout directory (holding index.json and oci-layout);
//   - a tar file, plain or compressed with gzip, xz, zstd or bzip2 (told
//     by its first bytes, not its name);
//   - an OCI archive or docker-archive (a plain tar holding an OCI layout
//     or docker's manifest.json): the image's layers are applied in order,
//     with whiteouts;
//   - a squashfs image (through sqfs2tar, from squashfs-tools-ng);
//   - an ext2, ext3 or ext4 image (read in Go; the empty lost+found that
//     mke2fs makes is left out);
//   - a manifest saved by WriteTo.
func Read(ctx context.Context, name string) (*Manifest, error) {
	m, err := read(ctx, name, nil)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return m, nil
}

// read is Read; k, if not nil, keeps the contents of the files it wants.
func read(ctx context.Context, name string, k *keeper) (*Manifest, error) {
	fi, err := os.Stat(name)
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		if isOCILayout(name) {
			return readImage(ctx, dirBlobs(name), kindOCI, k)
		}
		return readDir(ctx, name, k)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("not a directory or a regular file (%s)", fi.Mode().Type())
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	magic := make([]byte, len(header))
	n, err := io.ReadFull(f, magic)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return nil, err
	}
	if n == 0 {
		return nil, errors.New("empty file: not a tar archive, image or manifest")
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	switch {
	case isSquashfs(f):
		return readSquashfs(ctx, name, k)
	case isExt4(f):
		return readExt4(ctx, f, k)
	}
	if bytes.Equal(magic[:n], []byte(header)) {
		if k != nil {
			return nil, errors.New("a saved manifest holds no file contents")
		}
		return Parse(bufio.NewReaderSize(f, 1<<20))
	}
	return readTarFile(ctx, f, k)
}

// fromTree sorts a tree's paths into a manifest and names hardlink groups.
func fromTree(t *tree) *Manifest {
	paths := slices.Sorted(maps.Keys(t.paths))
	m := &Manifest{Entries: make([]Entry, 0, len(paths))}
	// Paths sorted: the first seen of an inode is its group's least path.
	// Counted at the end, since replacements and whiteouts may have left
	// a group with one path.
	first := map[*inode]string{}
	count := map[*inode]int{}
	for _, p := range paths {
		n := t.paths[p]
		if n.e.Type == TypeDir {
			continue
		}
		if _, ok := first[n]; !ok {
			first[n] = p
		}
		count[n]++
	}
	for _, p := range paths {
		n := t.paths[p]
		e := n.e
		e.Path = p
		if e.Type == TypeSymlink {
			e.Mode = 0o777
		}
		if len(e.Xattrs) == 0 {
			e.Xattrs = nil
		} else {
			e.Xattrs = maps.Clone(e.Xattrs)
		}
		if count[n] > 1 {
			e.Hardlink = first[n]
		}
		m.Entries = append(m.Entries, e)
	}
	return m
}
