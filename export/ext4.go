package export

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/debstrap/debstrap/internal/tmplock"
)

// An ext4 image is made in two steps, both by e2fsprogs: mke2fs makes an
// empty file system sized to fit, and debugfs fills it with commands made
// from the metadata table: mkdir, write (a staged file's content, through
// a descriptor handed to it), symlink, mknod, ln, then set_inode_field
// for mode, owner, link count and times, and ea_set for xattrs. Nothing
// but file contents is read from the staging directory. (mke2fs -d reads
// a tarball only from e2fsprogs 1.47.1 on, which Debian 12 does not have,
// and from a directory it would take the owners on disk.) debugfs reports
// a failed command on stderr but exits 0, so its stderr is watched, and
// e2fsck -fn checks the finished image.
//
// The image is reproducible: times come from E2FSPROGS_FAKE_TIME (the
// epoch), the UUID and directory hash seed from a hash of the table, and
// every command runs in the table's order.

const (
	ext4BlockSize = 4096
	ext4InodeSize = 256
	// ext4MinBlocks (16 MiB) leaves room for a journal, which mke2fs
	// leaves out of smaller file systems.
	ext4MinBlocks = 4096
	// ext4BatchFiles is how many file descriptors one debugfs run is
	// handed (an ordinary process may have 1024 open).
	ext4BatchFiles = 200
	// ext4InodeXattrSpace is what a 256-byte inode holds of xattrs (after
	// the 128-byte base and mke2fs's 32 extra bytes); more takes a block.
	ext4InodeXattrSpace = ext4InodeSize - 128 - 32
)

// ext4XattrNames are the xattr namespaces ext4 stores (and debugfs
// writes); any other name the kernel would not show.
var ext4XattrNames = []string{"user.", "trusted.", "security.", "system.posix_acl_access", "system.posix_acl_default"}

func ext4XattrOK(name string) bool {
	for _, n := range ext4XattrNames {
		if strings.HasSuffix(n, ".") && strings.HasPrefix(name, n) && len(name) > len(n) || name == n {
			return true
		}
	}
	return false
}

// checkExt4 finds what an ext4 image, or debugfs's one-command-a-line
// script, cannot hold.
func checkExt4(p *plan) error {
	for _, it := range p.items {
		if it.Path == "/lost+found" && it.Type != tar.TypeDir {
			return fmt.Errorf("/lost+found is a %s in the root: an ext4 file system keeps that name for e2fsck's directory", typeName(it.Type))
		}
		if strings.ContainsRune(it.Path, '\n') {
			return fmt.Errorf("%q: debugfs, which writes the ext4 image, cannot take a name with a newline", it.Path)
		}
		if it.Type == tar.TypeSymlink && strings.ContainsRune(it.Linkname, '\n') {
			return fmt.Errorf("%s: debugfs, which writes the ext4 image, cannot take a symlink target with a newline (%q)", it.Path, it.Linkname)
		}
		if it.Type == tar.TypeSymlink && len(it.Linkname) >= ext4BlockSize {
			return fmt.Errorf("%s: a symlink target of %d bytes does not fit an ext4 block of %d", it.Path, len(it.Linkname), ext4BlockSize)
		}
		if (it.Type == tar.TypeChar || it.Type == tar.TypeBlock) && (it.Devmajor > 65535 || it.Devminor > 65535) {
			return fmt.Errorf("%s: debugfs, which writes the ext4 image, takes device numbers up to 65535 (%d, %d)", it.Path, it.Devmajor, it.Devminor)
		}
		for k := range it.Xattrs {
			if !ext4XattrOK(k) || strings.ContainsAny(k, "\n\"") {
				return fmt.Errorf("%s has the xattr %q, which ext4 cannot hold (only %s)", it.Path, k, strings.Join(ext4XattrNames, ", "))
			}
		}
	}
	return nil
}

// ext4Need is what the root takes in the image: blocks of file content,
// directories, long symlinks and xattrs; and inodes.
type ext4Need struct{ blocks, inodes int64 }

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }

func round4(n int) int64 { return int64(n+3) &^ 3 }

// xattrBytes is the room xattrs take in an inode's xattr area.
func xattrBytes(x map[string]string) int64 {
	if len(x) == 0 {
		return 0
	}
	n := int64(8) // magic and end mark
	for k, v := range x {
		n += 16 + round4(len(k)) + round4(len(v))
	}
	return n
}

func ext4Needs(p *plan) ext4Need {
	const bs = ext4BlockSize
	var need ext4Need
	dirBytes := map[string]int64{}
	for _, it := range p.items {
		if it.Path != "/" {
			// A directory entry: 8 bytes and the name, rounded to 4.
			dirBytes[path.Dir(it.Path)] += 8 + round4(len(path.Base(it.Path)))
		}
		if it.Type == tar.TypeLink {
			continue
		}
		need.inodes++
		switch it.Type {
		case tar.TypeReg:
			nb := ceilDiv(it.Size, bs)
			need.blocks += nb
			// An extent maps up to 32768 blocks and the inode holds 4;
			// more take index blocks of 340.
			if ext := ceilDiv(nb, 32768); ext > 4 {
				need.blocks += ceilDiv(ext, 340)
			}
		case tar.TypeSymlink:
			if len(it.Linkname) >= 60 { // shorter ones live in the inode
				need.blocks++
			}
		case tar.TypeDir:
			dirBytes[it.Path] += 24 // "." and ".."
		}
		if xattrBytes(it.Xattrs) > ext4InodeXattrSpace {
			need.blocks++
		}
	}
	for _, b := range dirBytes {
		// Entries do not cross blocks, and each block ends in a 12-byte
		// checksum: an eighth more covers the ends left unused.
		need.blocks += max(1, ceilDiv(b+b/8, bs-12))
	}
	return need
}

// ext4Spare is the room an image keeps beyond its estimated need: a
// tenth and 1 MiB, for what the estimate leaves out (extent blocks of
// fragmented files, directory blocks split unevenly).
func ext4Spare(need int64) int64 { return need/10 + (1<<20)/ext4BlockSize }

// ext4Journal is the journal mke2fs makes for a file system of blocks
// (ext2fs_default_journal_size, in blocks of 4 KiB).
func ext4Journal(blocks int64) int64 {
	switch {
	case blocks < 2048:
		return 0
	case blocks < 32768:
		return 1024
	case blocks < 256*1024:
		return 4096
	case blocks < 512*1024:
		return 8192
	case blocks < 4096*1024:
		return 16384
	case blocks < 8192*1024:
		return 32768
	case blocks < 16384*1024:
		return 65536
	case blocks < 32768*1024:
		return 131072
	}
	return 262144
}

// ext4Size is the first guess of the image's size in blocks and its
// inode count, for need.
func ext4Size(need ext4Need) (blocks, inodes int64) {
	// 11 inodes are reserved or lost+found's; a tenth more for a user
	// who adds files to the image.
	inodes = need.inodes + 11 + need.inodes/10 + 64
	blocks = need.blocks + ext4Spare(need.blocks) + 4 // lost+found
	blocks += ceilDiv(inodes*ext4InodeSize, ext4BlockSize)
	// Bitmaps, group descriptors and the blocks reserved for growing
	// them: a few per group of 32768 blocks, and a margin.
	blocks += 16*ceilDiv(blocks, 32768) + 256
	blocks += ext4Journal(blocks)
	return max(blocks, ext4MinBlocks), inodes
}

// ext4Free reads the free block and inode counts of a new image's
// superblock.
func ext4Free(image string) (blocks, inodes int64, err error) {
	f, err := os.Open(image)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sb := make([]byte, 1024)
	if _, err := f.ReadAt(sb, 1024); err != nil {
		return 0, 0, fmt.Errorf("read the superblock of %s: %w", image, err)
	}
	le := binary.LittleEndian
	if le.Uint16(sb[56:]) != 0xEF53 {
		return 0, 0, fmt.Errorf("%s has no ext4 superblock", image)
	}
	blocks = int64(le.Uint32(sb[12:]))
	if le.Uint32(sb[96:])&0x80 != 0 { // 64bit: the high half
		blocks |= int64(le.Uint32(sb[0x158:])) << 32
	}
	return blocks, int64(le.Uint32(sb[16:])), nil
}

// ext4UUID is the image's UUID and directory hash seed: a hash of the
// table and the epoch, so that the same build gives the same image and
// another root almost surely another UUID.
func ext4UUID(p *plan, stamp int64) string {
	h := sha256.New()
	fmt.Fprintf(h, "debstrap ext4 %d\n", stamp)
	for _, it := range p.items {
		fmt.Fprintf(h, "%q %c %o %d %d %d %q %d %d %d", it.Path, it.Type, it.Mode, it.Uid, it.Gid, it.Size, it.Linkname, it.Devmajor, it.Devminor, it.ModTime.Unix())
		for _, k := range slices.Sorted(mapsKeys(it.Xattrs)) {
			fmt.Fprintf(h, " %q=%q", k, it.Xattrs[k])
		}
		h.Write([]byte{'\n'})
	}
	b := h.Sum(nil)[:16]
	b[6] = b[6]&0x0f | 0x80 // version 8, "custom" (RFC 9562)
	b[8] = b[8]&0x3f | 0x80 // the RFC 4122 variant
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func mapsKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// dq quotes a debugfs argument: its parser (libss) takes "" inside double
// quotes for one ".
func dq(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func typeName(t byte) string {
	switch t {
	case tar.TypeReg:
		return "regular file"
	case tar.TypeLink:
		return "hardlink"
	case tar.TypeSymlink:
		return "symlink"
	case tar.TypeChar:
		return "character device"
	case tar.TypeBlock:
		return "block device"
	case tar.TypeFifo:
		return "FIFO"
	}
	return "directory"
}

// inodeType is the file type bits of an item's i_mode.
func inodeType(t byte) int64 {
	switch t {
	case tar.TypeDir:
		return 0o040000
	case tar.TypeSymlink:
		return 0o120000
	case tar.TypeChar:
		return 0o020000
	case tar.TypeBlock:
		return 0o060000
	case tar.TypeFifo:
		return 0o010000
	}
	return 0o100000
}

// ext4Writer fills an image with debugfs, a batch of commands at a time.
type ext4Writer struct {
	debugfs, image string
	env            []string
	scratch        string // for xattr values and contents that are no file
	script         bytes.Buffer
	files          []*os.File
	nscratch       int
}

func (w *ext4Writer) cmd(format string, args ...any) {
	fmt.Fprintf(&w.script, format, args...)
	w.script.WriteByte('\n')
}

// scratchFile is a new file in the scratch directory.
func (w *ext4Writer) scratchFile() (*os.File, error) {
	w.nscratch++
	return os.OpenFile(filepath.Join(w.scratch, strconv.Itoa(w.nscratch)), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
}

// content hands the content of a regular item to the next debugfs run
// and returns the path debugfs reads it by.
func (w *ext4Writer) content(ctx context.Context, src Source, it *item, buf []byte) (string, error) {
	rc, err := src.Open(it.content)
	if err != nil {
		return "", fmt.Errorf("open content of %s: %w", it.content, err)
	}
	f, ok := rc.(*os.File)
	if ok {
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return "", fmt.Errorf("stat content of %s: %w", it.content, err)
		}
		if !fi.Mode().IsRegular() || fi.Size() != it.Size {
			f.Close()
			return "", fmt.Errorf("content of %s has %d bytes, its entry says %d", it.content, fi.Size(), it.Size)
		}
	} else {
		// Not a file (a Source in memory): debugfs needs one it can stat.
		rc.Close()
		if f, err = w.scratchFile(); err != nil {
			return "", err
		}
		if err := copyContent(ctx, f, src, it.content, it.Size, buf); err != nil {
			f.Close()
			return "", err
		}
	}
	w.files = append(w.files, f)
	// The child's own descriptor: ExtraFiles[i] is its fd 3+i.
	return "/proc/self/fd/" + strconv.Itoa(2+len(w.files)), nil
}

// flush runs debugfs on the commands so far.
func (w *ext4Writer) flush(ctx context.Context) error {
	defer func() {
		for _, f := range w.files {
			f.Close()
		}
		w.files = w.files[:0]
		w.script.Reset()
	}()
	if w.script.Len() == 0 {
		return nil
	}
	stderr, err := runTool(ctx, w.debugfs, []string{"-w", "-f", "-", w.image}, w.env, bytes.NewReader(w.script.Bytes()), w.files, false)
	if err != nil {
		return err
	}
	// Its first line names debugfs's version; any other is a command
	// that failed.
	var bad []string
	for i, l := range strings.Split(strings.TrimSpace(stderr), "\n") {
		if l = strings.TrimSpace(l); l == "" || i == 0 && strings.HasPrefix(l, "debugfs ") {
			continue
		}
		bad = append(bad, l)
	}
	if len(bad) > 0 {
		if len(bad) > 10 {
			bad = append(bad[:10], fmt.Sprintf("(and %d more)", len(bad)-10))
		}
		return fmt.Errorf("debugfs: %s", strings.Join(bad, "; "))
	}
	return nil
}

func writeExt4(ctx context.Context, src Source, p *plan, target string, opts Options) (string, error) {
	if err := checkExt4(p); err != nil {
		return "", err
	}
	bins := map[string]string{}
	for _, t := range formatTools[FormatExt4] {
		b, err := lookTool(FormatExt4, t)
		if err != nil {
			return "", err
		}
		bins[t.name] = b
	}
	to, err := openToolOutput(ctx, target, opts.Stdout)
	if err != nil {
		return "", err
	}
	defer to.abort()
	dir, pattern := to.out.t.scratch()
	scratch, lock, err := tmplock.MkdirTemp(dir, pattern)
	if err != nil {
		return "", fmt.Errorf("create temporary directory: %w", err)
	}
	defer func() {
		removeAll(scratch)
		lock.Release()
	}()

	stamp := opts.Epoch
	if stamp.IsZero() {
		stamp = p.newest
	}
	// E2FSPROGS_FAKE_TIME is the "now" of every e2fsprogs tool: the times
	// of the superblock, lost+found and the journal.
	env := toolEnv("E2FSPROGS_FAKE_TIME="+strconv.FormatInt(stamp.Unix(), 10), "LC_ALL=C")
	if err := makeExt4(ctx, bins["mke2fs"], to.path, env, p, stamp.Unix()); err != nil {
		return "", err
	}
	w := &ext4Writer{debugfs: bins["debugfs"], image: to.path, env: env, scratch: scratch}
	if err := fillExt4(ctx, w, src, p, opts.Progress); err != nil {
		return "", err
	}
	if _, err := runTool(ctx, bins["e2fsck"], []string{"-f", "-n", to.path}, env, nil, nil, true); err != nil {
		return "", fmt.Errorf("the ext4 image fails its check: %w", err)
	}
	return to.finish(ctx)
}

// makeExt4 makes the empty file system at image, growing the first
// estimate until it has the room the root needs.
func makeExt4(ctx context.Context, mke2fs, image string, env []string, p *plan, stamp int64) error {
	need := ext4Needs(p)
	blocks, inodes := ext4Size(need)
	uuid := ext4UUID(p, stamp)
	want := need.blocks + ext4Spare(need.blocks)
	for try := 0; ; try++ {
		if err := os.Truncate(image, 0); err != nil {
			return err
		}
		args := []string{"-q", "-F", "-o", "Linux", "-t", "ext4", "-T", "default",
			"-b", strconv.Itoa(ext4BlockSize), "-I", strconv.Itoa(ext4InodeSize),
			"-N", strconv.FormatInt(inodes, 10), "-U", uuid, "-E", "hash_seed=" + uuid + ",root_owner=0:0",
			image, strconv.FormatInt(blocks, 10)}
		if _, err := runTool(ctx, mke2fs, args, env, nil, nil, true); err != nil {
			return err
		}
		free, freeInodes, err := ext4Free(image)
		if err != nil {
			return err
		}
		if free >= want && freeInodes >= need.inodes {
			return nil
		}
		if try == 3 {
			return fmt.Errorf("mke2fs made %d blocks with %d free and %d free inodes; the root needs %d blocks and %d inodes", blocks, free, freeInodes, want, need.inodes)
		}
		if free < want {
			blocks += (want-free)*9/8 + 256
		}
		if freeInodes < need.inodes {
			inodes += (need.inodes-freeInodes)*9/8 + 64
		}
	}
}

// fillExt4 creates every item with debugfs, then sets every inode's
// metadata: last, so that making a directory's entries does not touch
// its times afterwards.
func fillExt4(ctx context.Context, w *ext4Writer, src Source, p *plan, progress func(done, total int64)) error {
	links := map[int]int64{} // index of a hardlink group's content item → its paths
	for _, it := range p.items {
		if it.Type == tar.TypeLink {
			links[it.link]++
		}
	}
	buf := make([]byte, 256<<10)
	var done int64
	if progress != nil {
		progress(0, p.total)
	}
	for i := range p.items {
		if err := ctx.Err(); err != nil {
			return err
		}
		it := &p.items[i]
		switch it.Type {
		case tar.TypeDir:
			switch it.Path {
			case "/":
			case "/lost+found": // mke2fs made it
			default:
				w.cmd("mkdir %s", dq(it.Path))
			}
		case tar.TypeReg:
			name, err := w.content(ctx, src, it, buf)
			if err != nil {
				return err
			}
			w.cmd("write %s %s", name, dq(it.Path))
			done += it.Size
			if progress != nil {
				progress(done, p.total)
			}
		case tar.TypeLink:
			w.cmd("ln %s %s", dq(p.items[it.link].Path), dq(it.Path))
		case tar.TypeSymlink:
			w.cmd("symlink %s %s", dq(it.Path), dq(it.Linkname))
		case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
			// mknod makes its name in the current directory.
			w.cmd("cd %s", dq(path.Dir(it.Path)))
			switch it.Type {
			case tar.TypeFifo:
				w.cmd("mknod %s p", dq(path.Base(it.Path)))
			case tar.TypeChar:
				w.cmd("mknod %s c %d %d", dq(path.Base(it.Path)), it.Devmajor, it.Devminor)
			default:
				w.cmd("mknod %s b %d %d", dq(path.Base(it.Path)), it.Devmajor, it.Devminor)
			}
			w.cmd("cd /")
		}
		if len(w.files) >= ext4BatchFiles {
			if err := w.flush(ctx); err != nil {
				return err
			}
		}
	}
	if err := w.flush(ctx); err != nil {
		return err
	}
	for i := range p.items {
		it := &p.items[i]
		if it.Type == tar.TypeLink {
			continue // its group's content item sets the shared inode
		}
		q := dq(it.Path)
		for _, k := range slices.Sorted(mapsKeys(it.Xattrs)) {
			f, err := w.scratchFile()
			if err != nil {
				return err
			}
			_, err = io.WriteString(f, it.Xattrs[k])
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("xattr %s of %s: %w", k, it.Path, err)
			}
			w.cmd("ea_set -f %s %s %s", dq(f.Name()), q, dq(k))
		}
		w.cmd("sif %s mode 0%o", q, inodeType(it.Type)|it.Mode)
		w.cmd("sif %s uid %d", q, it.Uid)
		w.cmd("sif %s gid %d", q, it.Gid)
		if n := links[i]; n > 0 {
			w.cmd("sif %s links_count %d", q, n+1)
		}
		t := it.ModTime.Unix()
		for _, f := range []string{"mtime", "atime", "ctime", "crtime"} {
			w.cmd("sif %s %s @%d", q, f, t)
		}
	}
	return w.flush(ctx)
}
