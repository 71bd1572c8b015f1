package manifest

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
)

// readExt4 describes an ext2, ext3 or ext4 image, read in Go (no tool can
// turn one into a tar, and debugfs's rdump would lose owners when run as
// an ordinary user). It walks the directory tree from the root inode and
// reads what a root needs: owners, modes, sizes, contents (through
// extents or block maps), symlink targets, device numbers, xattrs (in the
// inode and in an xattr block; POSIX ACLs turned back into the form
// getfattr and tar show) and hardlinks (paths of one inode).
//
// It leaves out the empty lost+found directory mke2fs makes (mode 0700,
// owned by root), as mmdebstrap leaves it out of its tarballs, so an
// image and the tar it was made from describe the same root. Checksums
// are not verified (e2fsck -fn does that), and what the images debstrap
// and mke2fs make never hold is refused by name: a journal that needs
// recovery, meta_bg, inline data, xattrs in inodes of their own,
// encrypted files.
func readExt4(ctx context.Context, f *os.File, k *keeper) (*Manifest, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	fs, err := openExt4(f, fi.Size())
	if err != nil {
		return nil, err
	}
	w := &ext4Walk{fs: fs, t: newTree(k), seen: map[uint32]*inode{}, dirs: map[uint32]bool{}, ctx: ctx}
	if err := w.dir("/", ext4RootIno); err != nil {
		return nil, err
	}
	return fromTree(w.t), nil
}

const (
	ext4SuperOff   = 1024
	ext4Magic      = 0xEF53
	ext4RootIno    = 2
	ext4XattrMagic = 0xEA020000
	// Inode flags.
	ext4ExtentsFl = 0x80000
	ext4InlineFl  = 0x10000000
	ext4EncryptFl = 0x800
	// Incompatible features.
	incompatFiletype = 0x2
	incompatRecover  = 0x4
	incompatMetaBG   = 0x10
	incompat64bit    = 0x80
	// incompatKnown are the incompatible features the reader copes with
	// (the others are refused): filetype, extents, 64bit, mmp, flex_bg,
	// ea_inode, csum_seed, large_dir, inline_data, encrypt and casefold
	// (per inode, where it matters).
	incompatKnown = 0x2 | 0x40 | 0x80 | 0x100 | 0x200 | 0x400 | 0x2000 | 0x4000 | 0x8000 | 0x10000 | 0x20000
	// maxExt4Dir bounds a directory read into memory.
	maxExt4Dir = 256 << 20
)

var le = binary.LittleEndian

// isExt4 tells an ext2/3/4 image by its superblock's magic number. A tar
// (whose byte 1080 may be anything) is told first by its header.
func isExt4(f *os.File) bool {
	b := make([]byte, 512)
	if n, _ := f.ReadAt(b, 0); n == 512 && string(b[257:262]) == "ustar" {
		return false
	}
	sb := make([]byte, 128)
	if n, _ := f.ReadAt(sb, ext4SuperOff); n < len(sb) {
		return false
	}
	return le.Uint16(sb[56:]) == ext4Magic && le.Uint32(sb[24:]) <= 6 && le.Uint32(sb[40:]) > 0
}

// ext4FS is an open image.
type ext4FS struct {
	r           io.ReaderAt
	bs          int64  // block size
	blocks      int64  // blocks in the file system
	inodes      uint32 // inodes in it
	perGroup    uint32 // inodes per group
	inodeSize   int64
	descSize    int64
	filetype    bool   // directory entries carry the file type
	descriptors []byte // every group descriptor
}

func openExt4(r io.ReaderAt, size int64) (*ext4FS, error) {
	sb := make([]byte, 1024)
	if _, err := r.ReadAt(sb, ext4SuperOff); err != nil {
		return nil, fmt.Errorf("ext4 superblock: %w", err)
	}
	if le.Uint16(sb[56:]) != ext4Magic {
		return nil, errors.New("no ext2/3/4 superblock")
	}
	fs := &ext4FS{r: r, inodes: le.Uint32(sb[0:]), perGroup: le.Uint32(sb[40:]), inodeSize: 128, descSize: 32}
	logBS := le.Uint32(sb[24:])
	if logBS > 6 {
		return nil, fmt.Errorf("ext4 superblock: block size 1024<<%d", logBS)
	}
	fs.bs = 1024 << logBS
	incompat := le.Uint32(sb[96:])
	switch {
	case incompat&incompatRecover != 0:
		return nil, errors.New("the ext4 journal needs recovery (the image was not cleanly unmounted): run e2fsck on it first")
	case incompat&incompatMetaBG != 0:
		return nil, errors.New("ext4 feature meta_bg is not supported")
	case incompat&^incompatKnown != 0:
		return nil, fmt.Errorf("ext4 incompatible features %#x are not supported", incompat&^incompatKnown)
	}
	fs.filetype = incompat&incompatFiletype != 0
	if le.Uint32(sb[76:]) >= 1 { // dynamic revision: sizes of its own
		fs.inodeSize = int64(le.Uint16(sb[88:]))
	}
	fs.blocks = int64(le.Uint32(sb[4:]))
	if incompat&incompat64bit != 0 {
		fs.blocks |= int64(le.Uint32(sb[0x150:])) << 32
		fs.descSize = int64(le.Uint16(sb[254:]))
	}
	perGroupBlocks := int64(le.Uint32(sb[32:]))
	first := int64(le.Uint32(sb[20:]))
	if fs.inodeSize < 128 || fs.inodeSize > fs.bs || fs.descSize < 32 || fs.perGroup == 0 || perGroupBlocks == 0 ||
		fs.blocks <= first || fs.blocks > size/fs.bs+1 {
		return nil, errors.New("ext4 superblock: sizes out of range")
	}
	groups := (fs.blocks - first + perGroupBlocks - 1) / perGroupBlocks
	if int64(fs.inodes) > groups*int64(fs.perGroup) {
		return nil, errors.New("ext4 superblock: more inodes than its groups hold")
	}
	fs.descriptors = make([]byte, groups*fs.descSize)
	if _, err := r.ReadAt(fs.descriptors, (first+1)*fs.bs); err != nil {
		return nil, fmt.Errorf("ext4 group descriptors: %w", err)
	}
	return fs, nil
}

// ext4Inode is the part of an inode the reader uses.
type ext4Inode struct {
	ino      uint32
	mode     uint16
	uid, gid uint32
	size     int64
	flags    uint32
	block    []byte // i_block, 60 bytes
	fileACL  int64
	raw      []byte
}

func (fs *ext4FS) inode(ino uint32) (*ext4Inode, error) {
	if ino < 1 || ino > fs.inodes {
		return nil, fmt.Errorf("inode %d out of range", ino)
	}
	g := int64((ino - 1) / fs.perGroup)
	d := fs.descriptors[g*fs.descSize:]
	table := int64(le.Uint32(d[8:]))
	if fs.descSize >= 64 {
		table |= int64(le.Uint32(d[0x28:])) << 32
	}
	raw := make([]byte, fs.inodeSize)
	off := table*fs.bs + int64((ino-1)%fs.perGroup)*fs.inodeSize
	if _, err := fs.r.ReadAt(raw, off); err != nil {
		return nil, fmt.Errorf("inode %d: %w", ino, err)
	}
	in := &ext4Inode{
		ino:     ino,
		mode:    le.Uint16(raw[0:]),
		uid:     uint32(le.Uint16(raw[2:])) | uint32(le.Uint16(raw[120:]))<<16,
		gid:     uint32(le.Uint16(raw[24:])) | uint32(le.Uint16(raw[122:]))<<16,
		size:    int64(le.Uint32(raw[4:])) | int64(le.Uint32(raw[108:]))<<32,
		flags:   le.Uint32(raw[32:]),
		block:   raw[40:100],
		fileACL: int64(le.Uint32(raw[104:])) | int64(le.Uint16(raw[118:]))<<32,
		raw:     raw,
	}
	if in.size < 0 {
		return nil, fmt.Errorf("inode %d: size out of range", ino)
	}
	return in, nil
}

// extent maps length blocks from logical to physical; zero, for an
// unwritten extent, reads as zeros.
type extent struct {
	logical, physical, length int64
	zero                      bool
}

// extents maps the blocks of a file's first size bytes.
func (fs *ext4FS) extents(in *ext4Inode) ([]extent, error) {
	if in.flags&ext4InlineFl != 0 {
		return nil, fmt.Errorf("inode %d: inline data is not supported", in.ino)
	}
	if in.flags&ext4EncryptFl != 0 {
		return nil, fmt.Errorf("inode %d is encrypted", in.ino)
	}
	nblocks := (in.size + fs.bs - 1) / fs.bs
	var out []extent
	var err error
	if in.flags&ext4ExtentsFl != 0 {
		budget := 1 << 16 // extent tree nodes read: a loop in a damaged tree ends
		err = fs.extentNode(in.block, 0, &out, &budget)
	} else {
		err = fs.blockMap(in.block, nblocks, &out)
	}
	if err != nil {
		return nil, fmt.Errorf("inode %d: %w", in.ino, err)
	}
	for _, e := range out {
		if e.physical < 0 || e.length < 0 || e.physical+e.length > fs.blocks {
			return nil, fmt.Errorf("inode %d: blocks %d+%d beyond the file system", in.ino, e.physical, e.length)
		}
	}
	return out, nil
}

// extentNode reads one node of an extent tree.
func (fs *ext4FS) extentNode(b []byte, depth int, out *[]extent, budget *int) error {
	if len(b) < 12 || le.Uint16(b[0:]) != 0xF30A {
		return errors.New("bad extent header")
	}
	if *budget--; *budget < 0 {
		return errors.New("extent tree too large")
	}
	n, d := int(le.Uint16(b[2:])), int(le.Uint16(b[6:]))
	if 12+12*n > len(b) || d > 5 || depth > 5 {
		return errors.New("bad extent node")
	}
	for i := 0; i < n; i++ {
		e := b[12+12*i:]
		if d == 0 {
			l := int64(le.Uint16(e[4:]))
			zero := l > 32768
			if zero {
				l -= 32768
			}
			*out = append(*out, extent{
				logical:  int64(le.Uint32(e[0:])),
				physical: int64(le.Uint16(e[6:]))<<32 | int64(le.Uint32(e[8:])),
				length:   l, zero: zero,
			})
			continue
		}
		leaf := int64(le.Uint32(e[4:])) | int64(le.Uint16(e[8:]))<<32
		if leaf <= 0 || leaf >= fs.blocks {
			return fmt.Errorf("extent index block %d out of range", leaf)
		}
		child := make([]byte, fs.bs)
		if _, err := fs.r.ReadAt(child, leaf*fs.bs); err != nil {
			return err
		}
		if err := fs.extentNode(child, depth+1, out, budget); err != nil {
			return err
		}
	}
	return nil
}

// blockMap reads the direct and indirect block map of ext2 and ext3
// files, for the first n blocks.
func (fs *ext4FS) blockMap(b []byte, n int64, out *[]extent) error {
	var logical int64
	add := func(phys int64) {
		if phys != 0 { // 0: a hole
			if k := len(*out) - 1; k >= 0 && (*out)[k].logical+(*out)[k].length == logical && (*out)[k].physical+(*out)[k].length == phys {
				(*out)[k].length++
			} else {
				*out = append(*out, extent{logical: logical, physical: phys, length: 1})
			}
		}
		logical++
	}
	per := fs.bs / 4
	var walk func(blk int64, level int) error
	walk = func(blk int64, level int) error {
		span := int64(1)
		for range level {
			span *= per
		}
		if blk == 0 {
			logical += span // a hole as wide as the subtree
			return nil
		}
		if blk >= fs.blocks {
			return fmt.Errorf("indirect block %d out of range", blk)
		}
		if level == 0 {
			add(blk)
			return nil
		}
		ind := make([]byte, fs.bs)
		if _, err := fs.r.ReadAt(ind, blk*fs.bs); err != nil {
			return err
		}
		for i := int64(0); i < per && logical < n; i++ {
			if err := walk(int64(le.Uint32(ind[4*i:])), level-1); err != nil {
				return err
			}
		}
		return nil
	}
	for i := 0; i < 15 && logical < n; i++ {
		level := max(0, i-11)
		if err := walk(int64(le.Uint32(b[4*i:])), level); err != nil {
			return err
		}
	}
	return nil
}

// contentReader reads the first size bytes of a file through its extents.
type contentReader struct {
	fs      *ext4FS
	ext     []extent
	off     int64 // bytes read so far
	size    int64
	ctx     context.Context
	scratch []byte
}

func (c *contentReader) Read(b []byte) (int, error) {
	if c.off >= c.size {
		return 0, io.EOF
	}
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	if int64(len(b)) > c.size-c.off {
		b = b[:c.size-c.off]
	}
	blk, within := c.off/c.fs.bs, c.off%c.fs.bs
	// The extent holding blk, or the gap before the next one.
	for _, e := range c.ext {
		if blk >= e.logical && blk < e.logical+e.length {
			n := min(int64(len(b)), (e.logical+e.length-blk)*c.fs.bs-within)
			if e.zero {
				clear(b[:n])
			} else if _, err := c.fs.r.ReadAt(b[:n], (e.physical+blk-e.logical)*c.fs.bs+within); err != nil {
				return 0, err
			}
			c.off += n
			return int(n), nil
		}
	}
	next := c.size
	for _, e := range c.ext {
		if e.logical > blk {
			next = min(next, e.logical*c.fs.bs)
		}
	}
	n := min(int64(len(b)), next-c.off)
	clear(b[:n])
	c.off += n
	return int(n), nil
}

// data reads the whole content of a small file (a directory, a symlink).
func (fs *ext4FS) data(ctx context.Context, in *ext4Inode, limit int64) ([]byte, error) {
	if in.size > limit {
		return nil, fmt.Errorf("inode %d: %d bytes, more than %d", in.ino, in.size, limit)
	}
	ext, err := fs.extents(in)
	if err != nil {
		return nil, err
	}
	b := make([]byte, in.size)
	if _, err := io.ReadFull(&contentReader{fs: fs, ext: ext, size: in.size, ctx: ctx}, b); err != nil {
		return nil, fmt.Errorf("inode %d: %w", in.ino, err)
	}
	return b, nil
}

// xattrPrefixes are the name prefixes of ext4's xattr name indexes.
var xattrPrefixes = map[byte]string{
	0: "", 1: "user.", 2: "system.posix_acl_access", 3: "system.posix_acl_default",
	4: "trusted.", 6: "security.", 7: "system.", 8: "system.richacl",
}

// xattrs reads an inode's xattrs: those after its extra fields, and those
// in its xattr block.
func (fs *ext4FS) xattrs(in *ext4Inode) (map[string]string, error) {
	out := map[string]string{}
	if fs.inodeSize > 128+4 {
		start := 128 + int64(le.Uint16(in.raw[128:]))
		if start+4 <= fs.inodeSize && le.Uint32(in.raw[start:]) == ext4XattrMagic {
			area := in.raw[start+4:]
			if err := parseXattrs(area, 0, area, out); err != nil {
				return nil, fmt.Errorf("inode %d: %w", in.ino, err)
			}
		}
	}
	if in.fileACL != 0 {
		if in.fileACL >= fs.blocks {
			return nil, fmt.Errorf("inode %d: xattr block %d out of range", in.ino, in.fileACL)
		}
		blk := make([]byte, fs.bs)
		if _, err := fs.r.ReadAt(blk, in.fileACL*fs.bs); err != nil {
			return nil, err
		}
		if le.Uint32(blk[0:]) != ext4XattrMagic {
			return nil, fmt.Errorf("inode %d: bad xattr block", in.ino)
		}
		if err := parseXattrs(blk, 32, blk, out); err != nil {
			return nil, fmt.Errorf("inode %d: %w", in.ino, err)
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// parseXattrs reads the entries of b from off; values are at offsets
// into base.
func parseXattrs(b []byte, off int, base []byte, out map[string]string) error {
	for off+16 <= len(b) && le.Uint32(b[off:]) != 0 {
		nameLen, index := int(b[off]), b[off+1]
		valOff, valInum, valSize := int(le.Uint16(b[off+2:])), le.Uint32(b[off+4:]), int(le.Uint32(b[off+8:]))
		if off+16+nameLen > len(b) {
			return errors.New("xattr entry beyond its area")
		}
		prefix, ok := xattrPrefixes[index]
		if !ok {
			return fmt.Errorf("xattr name index %d is unknown", index)
		}
		name := prefix + string(b[off+16:off+16+nameLen])
		off += (16 + nameLen + 3) &^ 3
		if valInum != 0 {
			return fmt.Errorf("xattr %s lives in an inode of its own (ea_inode), which is not supported", name)
		}
		if valOff+valSize > len(base) || valOff < 0 {
			return fmt.Errorf("xattr %s: value beyond its area", name)
		}
		val := base[valOff : valOff+valSize]
		if name == "system.data" {
			continue // the marker of inline data, not an xattr anyone sees
		}
		if index == 2 || index == 3 {
			v, err := aclToXattr(val)
			if err != nil {
				return fmt.Errorf("xattr %s: %w", name, err)
			}
			val = v
		}
		out[name] = string(val)
	}
	return nil
}

// aclToXattr turns a POSIX ACL as ext4 stores it (version 1; short
// entries for the owner, group, mask and other) into the form of the
// system.posix_acl_* xattr that getfattr and tar show (version 2, every
// entry with an id, 0xFFFFFFFF where none).
func aclToXattr(b []byte) ([]byte, error) {
	if len(b) < 4 || le.Uint32(b) != 1 {
		return nil, errors.New("not an ext4 ACL")
	}
	out := le.AppendUint32(nil, 2)
	for off := 4; off < len(b); {
		if off+4 > len(b) {
			return nil, errors.New("ext4 ACL cut short")
		}
		tag, perm := le.Uint16(b[off:]), le.Uint16(b[off+2:])
		id := uint32(0xFFFFFFFF)
		off += 4
		if tag == 2 || tag == 8 { // ACL_USER, ACL_GROUP
			if off+4 > len(b) {
				return nil, errors.New("ext4 ACL cut short")
			}
			id = le.Uint32(b[off:])
			off += 4
		}
		out = le.AppendUint16(out, tag)
		out = le.AppendUint16(out, perm)
		out = le.AppendUint32(out, id)
	}
	return out, nil
}

// ext4Walk is a walk of the tree.
type ext4Walk struct {
	fs   *ext4FS
	t    *tree
	seen map[uint32]*inode // non-directories read, for hardlinks
	dirs map[uint32]bool   // directories entered
	ctx  context.Context
	buf  []byte
}

// dir adds the directory ino at p and what is under it.
func (w *ext4Walk) dir(p string, ino uint32) error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	if w.dirs[ino] {
		return fmt.Errorf("%s: directory inode %d reached twice", p, ino)
	}
	w.dirs[ino] = true
	in, err := w.fs.inode(ino)
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	if in.mode&0xF000 != 0x4000 {
		return fmt.Errorf("%s: inode %d is not a directory", p, ino)
	}
	data, err := w.fs.data(w.ctx, in, maxExt4Dir)
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	type child struct {
		name string
		ino  uint32
	}
	var children []child
	for off := 0; off+8 <= len(data); {
		cino, recLen := le.Uint32(data[off:]), int(le.Uint16(data[off+4:]))
		nameLen := int(data[off+6])
		if !w.fs.filetype {
			nameLen |= int(data[off+7]) << 8
		}
		if recLen == 0 || recLen == 65535 { // 65536 in a 64 KiB block
			recLen = int(min(w.fs.bs, 65536))
		}
		if recLen < 8 || off+recLen > len(data) || 8+nameLen > recLen {
			return fmt.Errorf("%s: bad directory entry at byte %d", p, off)
		}
		name := string(data[off+8 : off+8+nameLen])
		off += recLen
		if cino == 0 || name == "." || name == ".." {
			continue // unused, a checksum tail, an index node
		}
		children = append(children, child{name, cino})
	}
	attrs, err := w.fs.xattrs(in)
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	if p == "/lost+found" && len(children) == 0 && in.mode&0o7777 == 0o700 && in.uid == 0 && in.gid == 0 && attrs == nil {
		return nil // mke2fs's, not the root's
	}
	w.t.set(p, &inode{e: Entry{Type: TypeDir, Mode: uint32(in.mode & 0o7777), Uid: int(in.uid), Gid: int(in.gid), Xattrs: attrs}})
	for _, c := range children {
		cp := path.Join(p, c.name)
		if err := w.entry(cp, c.ino); err != nil {
			return err
		}
	}
	return nil
}

// entry adds the inode ino at p.
func (w *ext4Walk) entry(p string, ino uint32) error {
	if n, ok := w.seen[ino]; ok {
		w.t.set(p, n) // a hardlink
		return nil
	}
	in, err := w.fs.inode(ino)
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	if in.mode&0xF000 == 0x4000 {
		return w.dir(p, ino)
	}
	e := Entry{Mode: uint32(in.mode & 0o7777), Uid: int(in.uid), Gid: int(in.gid)}
	switch in.mode & 0xF000 {
	case 0x8000:
		e.Type, e.Size = TypeFile, in.size
		ext, err := w.fs.extents(in)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		r := &contentReader{fs: w.fs, ext: ext, size: in.size, ctx: w.ctx}
		if w.t.keep.wants(p) {
			if e.SHA256, err = w.t.keep.read(w.t, p, r, in.size); err != nil {
				return err
			}
		} else {
			h := sha256.New()
			if w.buf == nil {
				w.buf = make([]byte, 256<<10)
			}
			if _, err := io.CopyBuffer(h, r, w.buf); err != nil {
				return fmt.Errorf("reading %s: %w", p, err)
			}
			e.SHA256 = hex.EncodeToString(h.Sum(nil))
		}
	case 0xA000:
		e.Type = TypeSymlink
		if in.flags&(ext4ExtentsFl|ext4InlineFl) == 0 && in.size < 60 {
			e.Link = string(in.block[:in.size]) // a fast symlink, in the inode
		} else {
			b, err := w.fs.data(w.ctx, in, w.fs.bs)
			if err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			e.Link = string(b)
		}
	case 0x2000, 0x6000:
		e.Type = TypeChar
		if in.mode&0xF000 == 0x6000 {
			e.Type = TypeBlock
		}
		if old := le.Uint32(in.block[0:]); old != 0 {
			e.Major, e.Minor = int64(old>>8&0xff), int64(old&0xff)
		} else {
			nw := le.Uint32(in.block[4:])
			e.Major, e.Minor = int64(nw&0xfff00>>8), int64(nw&0xff|nw>>12&0xfff00)
		}
	case 0x1000:
		e.Type = TypeFifo
	case 0xC000:
		e.Type = TypeSocket
	default:
		return fmt.Errorf("%s: inode %d has file type %#o", p, ino, in.mode&0xF000)
	}
	if e.Xattrs, err = w.fs.xattrs(in); err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	n := &inode{e: e}
	w.seen[ino] = n
	w.t.set(p, n)
	return nil
}
