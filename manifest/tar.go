package manifest

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/bzip2"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"net/url"
	"os"
	"path"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// inode is what the paths of a hardlink group share. Entry.Path is unused.
type inode struct{ e Entry }

// tree is a root being read: path → inode. Paths sharing an *inode are
// hardlinks of each other. keep, if not nil, holds the contents of the
// regular files ReadFiles was asked for.
type tree struct {
	paths map[string]*inode
	keep  *keeper
}

func newTree(k *keeper) *tree { return &tree{paths: map[string]*inode{}, keep: k} }

// set puts n at p. Replacing a directory with something else removes what
// was under it, as unpacking would have to.
func (t *tree) set(p string, n *inode) {
	if old, ok := t.paths[p]; ok && old.e.Type == TypeDir && n.e.Type != TypeDir {
		t.removeUnder(p, nil)
	}
	t.paths[p] = n
}

// removeUnder removes every path below dir, except those in keep.
func (t *tree) removeUnder(dir string, keep map[string]bool) {
	prefix := dir + "/"
	if dir == "/" {
		prefix = "/"
	}
	for p := range t.paths {
		if p != "/" && strings.HasPrefix(p, prefix) && !keep[p] {
			delete(t.paths, p)
		}
	}
}

// memberPath makes a tar member name an absolute clean path: "./etc/",
// "etc" and "/etc" are all /etc; "./" and "." are /.
func memberPath(name string) (string, error) {
	for _, c := range strings.Split(name, "/") {
		if c == ".." {
			return "", fmt.Errorf("member %q climbs out of the root with \"..\"", name)
		}
	}
	return path.Clean("/" + name), nil
}

// Whiteout names, from the OCI image spec's layer format.
const (
	whiteoutPrefix = ".wh."
	opaqueWhiteout = ".wh..wh..opq"
)

// The xattr encodings of PAX records: GNU tar's and libarchive's.
const (
	schilyXattr     = "SCHILY.xattr."
	libarchiveXattr = "LIBARCHIVE.xattr."
)

// readTar adds the members of a tar stream to t. For an image layer
// (layer true) whiteouts remove paths of lower layers: ".wh.NAME" removes
// NAME and what is under it, ".wh..wh..opq" what is under its directory.
// They are applied at the end of the layer, so they never hide the
// layer's own members whatever their order in the tar.
func readTar(ctx context.Context, r io.Reader, t *tree, layer bool) error {
	tr := tar.NewReader(r)
	var (
		added              map[string]bool
		whiteouts, opaques []string
	)
	if layer {
		added = map[string]bool{}
	}
	h := sha256.New()
	buf := make([]byte, 256<<10)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("reading tar: %w", err)
		}
		if hdr.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		p, err := memberPath(hdr.Name)
		if err != nil {
			return err
		}
		if layer {
			dir, base := path.Split(p)
			switch {
			case base == opaqueWhiteout:
				opaques = append(opaques, path.Clean(dir))
				continue
			case strings.HasPrefix(base, whiteoutPrefix):
				whiteouts = append(whiteouts, path.Join(dir, base[len(whiteoutPrefix):]))
				continue
			}
			added[p] = true
		}
		if hdr.Typeflag == tar.TypeLink {
			target, err := memberPath(hdr.Linkname)
			if err != nil {
				return fmt.Errorf("hardlink %s: %w", p, err)
			}
			n, ok := t.paths[target]
			switch {
			case !ok:
				return fmt.Errorf("hardlink %s: its target %s is not earlier in the archive", p, target)
			case n.e.Type == TypeDir:
				return fmt.Errorf("hardlink %s: its target %s is a directory", p, target)
			}
			if target != p {
				t.set(p, n)
			}
			continue
		}
		n, err := fromHeader(hdr, p)
		if err != nil {
			return err
		}
		if n.e.Type == TypeFile && t.keep.wants(p) {
			if n.e.SHA256, err = t.keep.read(t, p, tr, hdr.Size); err != nil {
				return err
			}
		} else if n.e.Type == TypeFile {
			h.Reset()
			got, err := io.CopyBuffer(h, tr, buf)
			if err != nil {
				return fmt.Errorf("reading %s: %w", p, err)
			}
			if got != hdr.Size {
				return fmt.Errorf("%s: header says %d bytes, read %d", p, hdr.Size, got)
			}
			n.e.SHA256 = hex.EncodeToString(h.Sum(nil))
		}
		t.set(p, n)
	}
	for _, w := range whiteouts {
		if !added[w] {
			delete(t.paths, w)
		}
		t.removeUnder(w, added)
	}
	for _, d := range opaques {
		t.removeUnder(d, added)
	}
	return nil
}

func fromHeader(hdr *tar.Header, p string) (*inode, error) {
	e := Entry{
		Mode: uint32(hdr.Mode & 0o7777),
		Uid:  hdr.Uid,
		Gid:  hdr.Gid,
	}
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeGNUSparse, tar.TypeCont:
		e.Type, e.Size = TypeFile, hdr.Size
	case tar.TypeDir:
		e.Type = TypeDir
	case tar.TypeSymlink:
		e.Type, e.Link = TypeSymlink, hdr.Linkname
	case tar.TypeChar:
		e.Type, e.Major, e.Minor = TypeChar, hdr.Devmajor, hdr.Devminor
	case tar.TypeBlock:
		e.Type, e.Major, e.Minor = TypeBlock, hdr.Devmajor, hdr.Devminor
	case tar.TypeFifo:
		e.Type = TypeFifo
	default:
		return nil, fmt.Errorf("member %s has tar type %q, which a root cannot hold", p, hdr.Typeflag)
	}
	for k, v := range hdr.PAXRecords {
		switch {
		case strings.HasPrefix(k, schilyXattr):
			if e.Xattrs == nil {
				e.Xattrs = map[string]string{}
			}
			e.Xattrs[k[len(schilyXattr):]] = v
		case strings.HasPrefix(k, libarchiveXattr):
			// bsdtar: the name URL-encoded, the value base64.
			name, err1 := url.QueryUnescape(k[len(libarchiveXattr):])
			val, err2 := base64.StdEncoding.DecodeString(v)
			if err1 != nil || err2 != nil {
				return nil, fmt.Errorf("member %s: bad PAX record %s", p, k)
			}
			if e.Xattrs == nil {
				e.Xattrs = map[string]string{}
			}
			e.Xattrs[name] = string(val)
		}
	}
	return &inode{e: e}, nil
}

// compression is a stream format told by its first bytes.
type compression string

const (
	compNone  compression = ""
	compGzip  compression = "gzip"
	compXz    compression = "xz"
	compZstd  compression = "zstd"
	compBzip2 compression = "bzip2"
)

func sniff(b []byte) compression {
	switch {
	case bytes.HasPrefix(b, []byte{0x1f, 0x8b}):
		return compGzip
	case bytes.HasPrefix(b, []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}):
		return compXz
	case bytes.HasPrefix(b, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return compZstd
	case bytes.HasPrefix(b, []byte("BZh")):
		return compBzip2
	}
	return compNone
}

// Decompress returns br's content uncompressed, whichever of the known
// compressions it has (gzip, xz, zstd, bzip2, or none), and a function
// that releases the decoder.
func Decompress(br *bufio.Reader) (io.Reader, func(), error) {
	r, _, release, err := decompress(br)
	return r, release, err
}

// decompress is Decompress, also telling which compression it found.
func decompress(br *bufio.Reader) (io.Reader, compression, func(), error) {
	magic, err := br.Peek(6)
	if err != nil && err != io.EOF {
		return nil, "", nil, err
	}
	c := sniff(magic)
	nop := func() {}
	switch c {
	case compGzip:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, c, nil, fmt.Errorf("gzip: %w", err)
		}
		return zr, c, func() { zr.Close() }, nil
	case compXz:
		zr, err := xz.NewReader(br)
		if err != nil {
			return nil, c, nil, fmt.Errorf("xz: %w", err)
		}
		return zr, c, nop, nil
	case compZstd:
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, c, nil, fmt.Errorf("zstd: %w", err)
		}
		return zr, c, zr.Close, nil
	case compBzip2:
		return bzip2.NewReader(br), c, nop, nil
	}
	return br, c, nop, nil
}

// readTarFile reads a tar file, compressed or not. A plain tar that holds
// an OCI layout or a docker-archive is read as that image instead.
func readTarFile(ctx context.Context, f *os.File, k *keeper) (*Manifest, error) {
	br := bufio.NewReaderSize(f, 1<<20)
	r, c, done, err := decompress(br)
	if err != nil {
		return nil, err
	}
	defer done()
	if c == compNone {
		// Look at the members first: seeking over contents, and stopping
		// at the first that no image archive holds, this is cheap.
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return nil, err
		}
		blobs, kind, err := scanArchive(ctx, f)
		if err != nil {
			return nil, err
		}
		if kind != "" {
			return readImage(ctx, blobs, kind, k)
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return nil, err
		}
		br.Reset(f)
		r = br
	}
	t := newTree(k)
	if err := readTar(ctx, r, t, false); err != nil {
		return nil, err
	}
	if c != compNone {
		// A compressed image archive cannot be read in place; say so
		// rather than describe its blobs as a root.
		if kind := imageKind(func(name string) bool { _, ok := t.paths[name]; return ok }); kind != "" && imageOnly(t) {
			return nil, fmt.Errorf("a %s-compressed %s: decompress it first", c, kind)
		}
	}
	return fromTree(t), nil
}

// member is where a plain tar holds a file's content.
type member struct {
	typ      byte
	offset   int64
	size     int64
	linkname string
}

// imageTop tells whether a top-level name is one an OCI archive or a
// docker-archive holds.
func imageTop(name string) bool {
	switch name {
	case "blobs", "index.json", "oci-layout", "manifest.json", "repositories":
		return true
	}
	// Configs and layers named by digest: "HEX.json", "HEX/layer.tar"
	// (docker save), "sha256:HEX", "HEX.tar.gz" (go-containerregistry).
	id := strings.TrimPrefix(name, "sha256:")
	if len(id) < 64 || (len(id) > 64 && id[64] != '.') {
		return false
	}
	_, err := hex.DecodeString(id[:64])
	return err == nil
}

// imageKind names the image format whose marker files exist, or "".
func imageKind(exists func(name string) bool) string {
	switch {
	case exists("/index.json") && exists("/oci-layout"):
		return kindOCI
	case exists("/manifest.json"):
		return kindDocker
	}
	return ""
}

// imageOnly tells whether every path of t is one an image archive holds.
func imageOnly(t *tree) bool {
	for p := range t.paths {
		top, _, _ := strings.Cut(p[1:], "/")
		if p != "/" && !imageTop(top) {
			return false
		}
	}
	return true
}

// scanArchive lists the members of the plain tar f, if it may be an image
// archive, and says which kind it is ("" for a root's tar).
func scanArchive(ctx context.Context, f *os.File) (*tarBlobs, string, error) {
	tr := tar.NewReader(f) // unbuffered: f's offset is the content's
	members := map[string]member{}
	for {
		if err := ctx.Err(); err != nil {
			return nil, "", err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, "", fmt.Errorf("reading tar: %w", err)
		}
		p, err := memberPath(hdr.Name)
		if err != nil {
			return nil, "", err
		}
		top, _, _ := strings.Cut(p[1:], "/")
		if p != "/" && !imageTop(top) {
			return nil, "", nil
		}
		off, err := f.Seek(0, io.SeekCurrent)
		if err != nil {
			return nil, "", err
		}
		members[p] = member{typ: hdr.Typeflag, offset: off, size: hdr.Size, linkname: hdr.Linkname}
	}
	kind := imageKind(func(name string) bool { _, ok := members[name]; return ok })
	if kind == "" {
		return nil, "", nil
	}
	return &tarBlobs{f: f, members: members}, kind, nil
}

// tarBlobs opens the files of an image archive in place.
type tarBlobs struct {
	f       *os.File
	members map[string]member
}

func (b *tarBlobs) Open(name string) (io.ReadCloser, error) {
	p, err := memberPath(name)
	if err != nil {
		return nil, err
	}
	// docker save stores a layer seen twice as a symlink to the first.
	for range 16 {
		m, ok := b.members[p]
		if !ok {
			return nil, fmt.Errorf("%s: %w", name, os.ErrNotExist)
		}
		switch m.typ {
		case tar.TypeReg:
			return io.NopCloser(io.NewSectionReader(b.f, m.offset, m.size)), nil
		case tar.TypeSymlink:
			p, err = memberPath(path.Join(path.Dir(p), m.linkname))
		case tar.TypeLink:
			p, err = memberPath(m.linkname)
		default:
			return nil, fmt.Errorf("%s is not a regular file in the archive", name)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil, fmt.Errorf("%s: too many levels of links", name)
}

// hashReader hashes what is read through it.
type hashReader struct {
	r io.Reader
	h hash.Hash
	n int64
}

func newHashReader(r io.Reader) *hashReader { return &hashReader{r: r, h: sha256.New()} }

func (h *hashReader) Read(b []byte) (int, error) {
	n, err := h.r.Read(b)
	h.h.Write(b[:n])
	h.n += int64(n)
	return n, err
}

func (h *hashReader) digest() string { return "sha256:" + hex.EncodeToString(h.h.Sum(nil)) }
