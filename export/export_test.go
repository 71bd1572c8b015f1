package export

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/debstrap/debstrap/rootfs"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// rootfs.Stage is what the CLI exports.
var _ FileSource = (*rootfs.Stage)(nil)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// memSource is an in-memory staging root.
type memSource struct {
	entries []rootfs.Entry
	files   map[string][]byte
	// onOpen, if set, runs before each Open (tests cancel a context there).
	onOpen func(path string)
}

func (m *memSource) Entries() []rootfs.Entry { return m.entries }

func (m *memSource) Open(path string) (io.ReadCloser, error) {
	if m.onOpen != nil {
		m.onOpen(path)
	}
	b, ok := m.files[path]
	if !ok {
		return nil, fmt.Errorf("%s: %w", path, os.ErrNotExist)
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

var (
	epoch     = time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)
	older     = time.Date(2023, 3, 4, 5, 6, 7, 890_000_000, time.UTC) // sub-second part is dropped
	later     = epoch.Add(48 * time.Hour)                             // clamped to epoch
	longName  = "/usr/share/doc/" + strings.Repeat("x", 120)          // one component > 100: PAX path
	splitName = "/usr/share/doc/" + strings.Repeat("d", 60) + "/" + strings.Repeat("f", 60)
	longLink  = "../../" + strings.Repeat("t", 110)
	// A file capability: cap_net_raw=ep, VFS_CAP_REVISION_2.
	capability = string([]byte{0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
)

// fixture is a small root with every kind of entry the exporter handles.
// Entries are deliberately not in output order.
func fixture() *memSource {
	dir := func(p string, mode int64) rootfs.Entry {
		return rootfs.Entry{Path: p, Type: tar.TypeDir, Mode: mode, ModTime: older}
	}
	reg := func(p string, mode int64, content string) rootfs.Entry {
		return rootfs.Entry{Path: p, Type: tar.TypeReg, Mode: mode, Size: int64(len(content)), ModTime: older}
	}
	files := map[string][]byte{}
	var entries []rootfs.Entry
	add := func(e rootfs.Entry, content string) {
		entries = append(entries, e)
		if e.Type == tar.TypeReg {
			files[e.Path] = []byte(content)
		}
	}
	add(dir("/usr", 0o755), "")
	add(dir("/", 0o755), "")
	add(rootfs.Entry{Path: "/bin", Type: tar.TypeSymlink, Mode: 0o777, Linkname: "usr/bin", ModTime: older}, "")
	add(dir("/dev", 0o755), "")
	add(rootfs.Entry{Path: "/dev/null", Type: tar.TypeChar, Mode: 0o666, Devmajor: 1, Devminor: 3, ModTime: older}, "")
	add(rootfs.Entry{Path: "/dev/sda", Type: tar.TypeBlock, Mode: 0o660, Gid: 6, Devmajor: 8, Devminor: 0, ModTime: older}, "")
	add(dir("/etc", 0o755), "")
	add(reg("/etc/passwd", 0o644, "root:x:0:0:root:/root:/bin/bash\n"), "root:x:0:0:root:/root:/bin/bash\n")
	shadow := reg("/etc/shadow", 0o640, "root:*:19000:0:99999:7:::\n")
	shadow.Gid = 42
	add(shadow, "root:*:19000:0:99999:7:::\n")
	host := reg("/etc/hostname", 0o644, "debstrap\n")
	host.ModTime = later
	add(host, "debstrap\n")
	add(reg("/etc/empty", 0o644, ""), "")
	add(dir("/run", 0o755), "")
	add(rootfs.Entry{Path: "/run/initctl", Type: tar.TypeFifo, Mode: 0o600, ModTime: older}, "")
	add(dir("/tmp", 0o1777), "")
	add(dir("/usr/bin", 0o755), "")
	add(reg("/usr/bin/passwd", 0o4755, "ELF passwd"), "ELF passwd")
	ping := reg("/usr/bin/ping", 0o755, "ELF ping")
	ping.Xattrs = map[string]string{"security.capability": capability}
	add(ping, "ELF ping")
	add(reg("/usr/bin/perl", 0o755, "ELF perl"), "ELF perl")
	add(rootfs.Entry{Path: "/usr/bin/perl5.36.0", Type: tar.TypeLink, Linkname: "/usr/bin/perl", ModTime: older}, "")
	// The "first link" sorts after its hardlink: the exporter must put the
	// content on /usr/lib/y, the first in output order.
	add(dir("/usr/lib", 0o755), "")
	add(dir("/usr/lib-z", 0o755), "")
	add(reg("/usr/lib-z/x", 0o644, "shared inode"), "shared inode")
	add(rootfs.Entry{Path: "/usr/lib/y", Type: tar.TypeLink, Linkname: "/usr/lib-z/x", ModTime: older}, "")
	add(rootfs.Entry{Path: "/usr/lib/long-link", Type: tar.TypeSymlink, Mode: 0o777, Linkname: longLink, ModTime: older}, "")
	add(dir("/usr/share", 0o755), "")
	add(dir("/usr/share/doc", 0o755), "")
	add(reg(longName, 0o644, "long name"), "long name")
	add(dir(parentOf(splitName), 0o755), "")
	add(reg(splitName, 0o644, "split name"), "split name")
	big := reg("/usr/share/big-uid", 0o600, "owned by a large uid")
	big.Uid, big.Gid = 3_000_000, 3_000_000
	add(big, "owned by a large uid")
	return &memSource{entries: entries, files: files}
}

func parentOf(p string) string { return p[:strings.LastIndexByte(p, '/')] }

// want is the expected tar header of each member, in order.
type want struct {
	name     string
	typ      byte
	mode     int64
	uid, gid int
	size     int64
	mtime    time.Time
	link     string
	major    int64
	minor    int64
	pax      []string // PAX record keys expected (sorted); nil means a plain USTAR header
	content  string
}

func expected() []want {
	o := time.Unix(older.Unix(), 0).UTC()
	d := func(n string, mode int64) want { return want{name: n, typ: tar.TypeDir, mode: mode, mtime: o} }
	r := func(n string, mode int64, c string) want {
		return want{name: n, typ: tar.TypeReg, mode: mode, size: int64(len(c)), mtime: o, content: c}
	}
	passwd := r("./etc/passwd", 0o644, "root:x:0:0:root:/root:/bin/bash\n")
	shadow := r("./etc/shadow", 0o640, "root:*:19000:0:99999:7:::\n")
	shadow.gid = 42
	host := r("./etc/hostname", 0o644, "debstrap\n")
	host.mtime = epoch
	ping := r("./usr/bin/ping", 0o755, "ELF ping")
	ping.pax = []string{"SCHILY.xattr.security.capability"}
	long := r("."+longName, 0o644, "long name")
	long.pax = []string{"path"}
	big := r("./usr/share/big-uid", 0o600, "owned by a large uid")
	big.uid, big.gid = 3_000_000, 3_000_000
	big.pax = []string{"gid", "uid"}
	return []want{
		d("./", 0o755),
		{name: "./bin", typ: tar.TypeSymlink, mode: 0o777, mtime: o, link: "usr/bin"},
		d("./dev/", 0o755),
		{name: "./dev/null", typ: tar.TypeChar, mode: 0o666, mtime: o, major: 1, minor: 3},
		{name: "./dev/sda", typ: tar.TypeBlock, mode: 0o660, gid: 6, mtime: o, major: 8},
		d("./etc/", 0o755),
		r("./etc/empty", 0o644, ""),
		host,
		passwd,
		shadow,
		d("./run/", 0o755),
		{name: "./run/initctl", typ: tar.TypeFifo, mode: 0o600, mtime: o},
		d("./tmp/", 0o1777),
		d("./usr/", 0o755),
		d("./usr/bin/", 0o755),
		r("./usr/bin/passwd", 0o4755, "ELF passwd"),
		r("./usr/bin/perl", 0o755, "ELF perl"),
		{name: "./usr/bin/perl5.36.0", typ: tar.TypeLink, mode: 0o755, mtime: o, link: "./usr/bin/perl"},
		ping,
		d("./usr/lib/", 0o755),
		{name: "./usr/lib/long-link", typ: tar.TypeSymlink, mode: 0o777, mtime: o, link: longLink, pax: []string{"linkpath"}},
		r("./usr/lib/y", 0o644, "shared inode"),
		d("./usr/lib-z/", 0o755),
		{name: "./usr/lib-z/x", typ: tar.TypeLink, mode: 0o644, mtime: o, link: "./usr/lib/y"},
		d("./usr/share/", 0o755),
		big,
		d("./usr/share/doc/", 0o755),
		d("."+parentOf(splitName)+"/", 0o755),
		r("."+splitName, 0o644, "split name"),
		long,
	}
}

func write(t *testing.T, src Source, target string, opts Options) string {
	t.Helper()
	if opts.Epoch.IsZero() {
		opts.Epoch = epoch
	}
	if opts.Architecture == "" {
		opts.Architecture = "amd64"
	}
	d, err := Write(context.Background(), src, target, opts)
	if err != nil {
		t.Fatalf("Write %s: %v", target, err)
	}
	return d
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// listing renders a tar as one line per member, for golden files.
func listing(t *testing.T, b []byte) string {
	t.Helper()
	var out strings.Builder
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("read tar: %v", err)
		}
		c, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		keys := slices.Sorted(func(yield func(string) bool) {
			for k := range h.PAXRecords {
				if !yield(k) {
					return
				}
			}
		})
		fmt.Fprintf(&out, "%c %04o %d:%d %d %s %s", h.Typeflag, h.Mode, h.Uid, h.Gid, h.Size,
			h.ModTime.UTC().Format(time.RFC3339), h.Name)
		if h.Linkname != "" {
			fmt.Fprintf(&out, " -> %s", h.Linkname)
		}
		if h.Typeflag == tar.TypeChar || h.Typeflag == tar.TypeBlock {
			fmt.Fprintf(&out, " dev=%d,%d", h.Devmajor, h.Devminor)
		}
		if len(keys) > 0 {
			fmt.Fprintf(&out, " pax=%s", strings.Join(keys, ","))
		}
		if h.Typeflag == tar.TypeReg {
			fmt.Fprintf(&out, " %s", sha(c)[:19])
		}
		out.WriteString("\n")
	}
	fmt.Fprintf(&out, "tar %s\n", sha(b))
	return out.String()
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(b) != got {
		t.Errorf("%s differs from golden (go test -update to accept):\n--- got\n%s\n--- want\n%s", name, got, b)
	}
}

func TestTarHeaders(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "root.tar")
	digest := write(t, fixture(), target, Options{})
	b := readFile(t, target)
	if digest != sha(b) {
		t.Errorf("digest %s, file has %s", digest, sha(b))
	}
	golden(t, "fixture.tar.txt", listing(t, b))

	tr := tar.NewReader(bytes.NewReader(b))
	for i, w := range expected() {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("member %d (%s): %v", i, w.name, err)
		}
		content, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		check := func(field string, got, want any) {
			t.Helper()
			if got != want {
				t.Errorf("%s: %s = %v, want %v", w.name, field, got, want)
			}
		}
		check("Name", h.Name, w.name)
		check("Typeflag", h.Typeflag, w.typ)
		check("Mode", h.Mode, w.mode)
		check("Uid", h.Uid, w.uid)
		check("Gid", h.Gid, w.gid)
		check("Uname", h.Uname, "")
		check("Gname", h.Gname, "")
		check("Size", h.Size, w.size)
		check("ModTime", h.ModTime.UTC(), w.mtime)
		check("AccessTime", h.AccessTime.IsZero(), true)
		check("ChangeTime", h.ChangeTime.IsZero(), true)
		check("Linkname", h.Linkname, w.link)
		check("Devmajor", h.Devmajor, w.major)
		check("Devminor", h.Devminor, w.minor)
		check("content", string(content), w.content)
		var keys []string
		for k := range h.PAXRecords {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		check("PAX keys", strings.Join(keys, ","), strings.Join(w.pax, ","))
		if w.pax == nil {
			check("Format", h.Format, tar.FormatUSTAR)
		} else {
			check("Format", h.Format, tar.FormatPAX)
		}
		if w.name == "./usr/bin/ping" {
			check("capability", h.PAXRecords["SCHILY.xattr.security.capability"], capability)
		}
	}
	if h, err := tr.Next(); err != io.EOF {
		t.Errorf("extra member %v (err %v)", h, err)
	}
}

// TestOrder checks the depth-first order of GNU tar --sort=name.
func TestOrder(t *testing.T) {
	in := []string{"/usr/lib-z", "/usr", "/", "/usr/lib/x", "/usr/lib", "/usr/lib/x/a", "/a", "/usr/lib.d", "/usr/libA"}
	slices.SortFunc(in, pathLess)
	want := []string{"/", "/a", "/usr", "/usr/lib", "/usr/lib/x", "/usr/lib/x/a", "/usr/lib-z", "/usr/lib.d", "/usr/libA"}
	if !slices.Equal(in, want) {
		t.Errorf("order %q, want %q", in, want)
	}
}

// TestEntryOrderIrrelevant: the Source's order does not change the bytes.
func TestEntryOrderIrrelevant(t *testing.T) {
	dir := t.TempDir()
	a := fixture()
	b := fixture()
	slices.Reverse(b.entries)
	da := write(t, a, filepath.Join(dir, "a.tar"), Options{})
	db := write(t, b, filepath.Join(dir, "b.tar"), Options{})
	if da != db {
		t.Errorf("reversed entries give %s, sorted give %s", db, da)
	}
}

func TestNoEpoch(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "root.tar")
	if _, err := Write(context.Background(), fixture(), target, Options{}); err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(bytes.NewReader(readFile(t, target)))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Name == "./etc/hostname" && !h.ModTime.Equal(later) {
			t.Errorf("without epoch, hostname mtime %v, want %v", h.ModTime, later)
		}
	}
}

func TestFormatFor(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "existing")
	if err := os.Mkdir(existing, 0o755); err != nil {
		t.Fatal(err)
	}
	existingTar := filepath.Join(dir, "x.tar")
	if err := os.Mkdir(existingTar, 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		target, explicit string
		want             Format
		err              string
	}{
		{"out/", "", FormatDir, ""},
		{"/", "", FormatDir, ""},
		{existing, "", FormatDir, ""},
		{"rootfs", "", FormatDir, ""},
		{"root.tar", "", FormatTar, ""},
		{"root.TAR", "", FormatTar, ""},
		{"root.tar.gz", "", FormatTarGz, ""},
		{"root.tgz", "", FormatTarGz, ""},
		{"root.tar.xz", "", FormatTarXz, ""},
		{"root.txz", "", FormatTarXz, ""},
		{"root.tar.zst", "", FormatTarZst, ""},
		{"root.tzst", "", FormatTarZst, ""},
		{"root.tar.zstd", "", FormatTarZst, ""},
		{"img.oci", "", FormatOCI, ""},
		{"img.oci/", "", FormatOCI, ""},
		{"img.oci.tar", "", FormatOCIArchive, ""},
		{"img.docker.tar", "", FormatDockerArchive, ""},
		{"dir.v2/img.tar", "", FormatTar, ""},
		{"anything", "docker-archive", FormatDockerArchive, ""},
		{"anything.tar", "dir", FormatDir, ""},
		{"x", "directory", FormatDir, ""},
		{"x", "TAR.GZ", FormatTarGz, ""},
		{"x", "auto", FormatDir, ""},
		{"x", "btrfs", "", `unknown output format "btrfs": known formats are dir, tar`},
		{"root.squashfs", "", FormatSquashfs, ""},
		{"root.SQFS", "", FormatSquashfs, ""},
		{"x", "sqfs", FormatSquashfs, ""},
		{"root.ext4", "", FormatExt4, ""},
		{"x", "ext4", FormatExt4, ""},
		{"root.ext2", "", "", `cannot tell the output format from target "root.ext2": known endings are`},
		{"root.ext4/", "", "", "use --format"},
		{"/dev/null", "", FormatNull, ""},
		{"-", "null", FormatNull, ""},
		{"null", "null", FormatNull, ""},
		{"root.tar.bz2", "", "", "known endings are"},
		{"root.tar/", "", "", "use --format"},
		{existingTar, "", "", "existing directory"},
		{".tar", "", "", "cannot tell"},
		{"-", "", FormatTar, ""},
		{"", "", "", "no output target"},
	}
	for _, tt := range tests {
		got, err := FormatFor(tt.target, tt.explicit)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("FormatFor(%q, %q) = %q, %v; want error containing %q", tt.target, tt.explicit, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("FormatFor(%q, %q) = %q, %v; want %q", tt.target, tt.explicit, got, err, tt.want)
		}
	}
}

func decompress(t *testing.T, format Format, b []byte) []byte {
	t.Helper()
	var r io.Reader
	var err error
	switch format {
	case FormatTar:
		return b
	case FormatTarGz:
		// No FNAME/FEXTRA/FCOMMENT flags, and MTIME 0.
		if len(b) < 10 || b[3] != 0 || !bytes.Equal(b[4:8], []byte{0, 0, 0, 0}) {
			t.Errorf("gzip header % x: want no flags and mtime 0", b[:min(len(b), 10)])
		}
		r, err = gzip.NewReader(bytes.NewReader(b))
	case FormatTarXz:
		r, err = xz.NewReader(bytes.NewReader(b))
	case FormatTarZst:
		var zr *zstd.Decoder
		zr, err = zstd.NewReader(bytes.NewReader(b))
		if zr != nil {
			defer zr.Close()
		}
		r = zr
	}
	if err != nil {
		t.Fatalf("%s: %v", format, err)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("decompress %s: %v", format, err)
	}
	return out
}

// TestReproducible writes every format twice and compares the bytes.
func TestReproducible(t *testing.T) {
	dir := t.TempDir()
	plain := readFileAfterWrite(t, filepath.Join(dir, "plain.tar"))
	for _, f := range Formats {
		if f == FormatDir || f == FormatNull || f == FormatRegistry { // a registry's: TestPushUploadsMissingBlobs
			continue
		}
		t.Run(string(f), func(t *testing.T) {
			needTools(t, f)
			var trees [2]string
			var digests [2]string
			for i := range trees {
				target := filepath.Join(dir, fmt.Sprintf("%s-%d", strings.ReplaceAll(string(f), ".", "-"), i))
				opts := Options{Format: f}
				if f.HoldsConfig() {
					opts.Image.Tag = "test:1"
				}
				digests[i] = write(t, fixture(), target, opts)
				trees[i] = treeDigest(t, target)
			}
			if trees[0] != trees[1] || digests[0] != digests[1] {
				t.Errorf("two writes differ: %s %s / %s %s", digests[0], trees[0], digests[1], trees[1])
			}
			if f.isTar() {
				target := filepath.Join(dir, fmt.Sprintf("%s-0", strings.ReplaceAll(string(f), ".", "-")))
				if got := decompress(t, f, readFile(t, target)); !bytes.Equal(got, plain) {
					t.Errorf("decompressed %s differs from the plain tar", f)
				}
			}
		})
	}
	assertNoTemp(t, dir)
}

func readFileAfterWrite(t *testing.T, target string) []byte {
	t.Helper()
	write(t, fixture(), target, Options{})
	return readFile(t, target)
}

// treeDigest hashes a file, or every path and file content of a directory.
func treeDigest(t *testing.T, p string) string {
	t.Helper()
	h := sha256.New()
	err := filepath.Walk(p, func(q string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(p, q)
		fmt.Fprintf(h, "%s %v\n", rel, fi.Mode())
		if fi.Mode().IsRegular() {
			h.Write(readFile(t, q))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// assertNoTemp fails if a temporary of the exporter is left in dir.
func assertNoTemp(t *testing.T, dir string) {
	t.Helper()
	names, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if strings.Contains(n.Name(), ".tmp-") {
			t.Errorf("temporary %s left behind", n.Name())
		}
	}
}

// TestZstdConcurrencyDeterministic: the pipelined encoder writes the same
// bitstream as the single-threaded one, so the machine does not matter.
func TestZstdConcurrencyDeterministic(t *testing.T) {
	var in bytes.Buffer
	for i := 0; in.Len() < 6<<20; i++ {
		fmt.Fprintf(&in, "line %d of a compressible stream %x\n", i, i*i*7919)
	}
	enc := func(n int) []byte {
		var out bytes.Buffer
		w, err := zstd.NewWriter(&out, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(n), zstd.WithEncoderCRC(true))
		if err != nil {
			t.Fatal(err)
		}
		// Uneven writes, as a tar writer makes them.
		b := in.Bytes()
		for len(b) > 0 {
			k := min(len(b), 12345)
			if _, err := w.Write(b[:k]); err != nil {
				t.Fatal(err)
			}
			b = b[k:]
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return out.Bytes()
	}
	if !bytes.Equal(enc(1), enc(zstdConcurrency)) {
		t.Error("zstd output depends on encoder concurrency")
	}
}

func TestBadInput(t *testing.T) {
	mod := func(f func(m *memSource)) *memSource {
		m := fixture()
		f(m)
		return m
	}
	find := func(m *memSource, p string) *rootfs.Entry {
		for i := range m.entries {
			if m.entries[i].Path == p {
				return &m.entries[i]
			}
		}
		panic(p)
	}
	tests := []struct {
		name string
		src  *memSource
		err  string
	}{
		{"duplicate", mod(func(m *memSource) { m.entries = append(m.entries, m.entries[0]) }), `"/usr": listed twice`},
		{"relative", mod(func(m *memSource) { find(m, "/etc/empty").Path = "etc/empty" }), "not absolute and clean"},
		{"dotdot", mod(func(m *memSource) { find(m, "/etc/empty").Path = "/etc/../empty" }), "not absolute and clean"},
		{"no parent", mod(func(m *memSource) { find(m, "/etc/empty").Path = "/nodir/empty" }), `parent directory "/nodir" is not in the root`},
		{"under symlink", mod(func(m *memSource) { find(m, "/etc/empty").Path = "/bin/empty" }), `parent "/bin" is not a directory`},
		{"dangling hardlink", mod(func(m *memSource) { find(m, "/usr/bin/perl5.36.0").Linkname = "/usr/bin/nope" }), `hardlink target "/usr/bin/nope" is not in the root`},
		{"hardlink to dir", mod(func(m *memSource) { find(m, "/usr/bin/perl5.36.0").Linkname = "/etc" }), "not a regular file"},
		{"mode type bits", mod(func(m *memSource) { find(m, "/etc/empty").Mode = 0o100644 }), "bits beyond 07777"},
		{"bad type", mod(func(m *memSource) { find(m, "/etc/empty").Type = 'Z' }), "unsupported type"},
		{"short content", mod(func(m *memSource) { find(m, "/etc/passwd").Size = 1000 }), "its entry says 1000"},
		{"long content", mod(func(m *memSource) { find(m, "/etc/passwd").Size = 3 }), "longer than the 3 bytes"},
		{"missing content", mod(func(m *memSource) { delete(m.files, "/etc/passwd") }), "open content of /etc/passwd"},
	}
	for _, tt := range tests {
		for _, f := range []Format{FormatTar, FormatDir, FormatOCI} {
			dir := t.TempDir()
			target := filepath.Join(dir, "out")
			_, err := Write(context.Background(), tt.src, target, Options{Format: f, Epoch: epoch, Architecture: "amd64"})
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s as %s: err %v, want it to contain %q", tt.name, f, err, tt.err)
			}
			if names, _ := os.ReadDir(dir); len(names) != 0 {
				t.Errorf("%s as %s: left %v", tt.name, f, names)
			}
		}
	}
}

// TestCancel: a cancelled context, before or during the write, leaves no
// target and no temporary.
func TestCancel(t *testing.T) {
	for _, f := range Formats {
		if f == FormatRegistry { // its target is no file: TestPushCancel
			continue
		}
		if checkTools(f) != nil {
			t.Logf("%s: not tested: %v", f, checkTools(f))
			continue
		}
		for _, during := range []bool{false, true} {
			dir := t.TempDir()
			target := filepath.Join(dir, "out")
			ctx, cancel := context.WithCancel(context.Background())
			src := fixture()
			if during {
				src.onOpen = func(p string) {
					if p == "/usr/bin/ping" {
						cancel()
					}
				}
			} else {
				cancel()
			}
			_, err := Write(ctx, src, target, Options{Format: f, Epoch: epoch, Architecture: "amd64"})
			cancel()
			if !errors.Is(err, context.Canceled) {
				t.Errorf("%s (during=%v): err %v, want context.Canceled", f, during, err)
			}
			if names, _ := os.ReadDir(dir); len(names) != 0 {
				t.Errorf("%s (during=%v): left %v", f, during, names)
			}
		}
	}
}

func TestTargets(t *testing.T) {
	dir := t.TempDir()
	// A file target replaces an existing file.
	target := filepath.Join(dir, "root.tar")
	if err := os.WriteFile(target, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	write(t, fixture(), target, Options{})
	if b := readFile(t, target); len(b) < 1024 {
		t.Errorf("target not replaced: %q", b)
	}
	if fi, _ := os.Stat(target); fi.Mode().Perm() != 0o644 {
		t.Errorf("target mode %v, want 0644", fi.Mode())
	}
	// A directory target may exist if empty, not if full.
	empty := filepath.Join(dir, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, fixture(), empty+"/", Options{})
	if _, err := os.Lstat(filepath.Join(empty, "etc/passwd")); err != nil {
		t.Error(err)
	}
	_, err := Write(context.Background(), fixture(), empty, Options{Format: FormatDir, Epoch: epoch})
	if err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("writing into a full directory: %v", err)
	}
	// An image needs an architecture.
	_, err = Write(context.Background(), fixture(), filepath.Join(dir, "x.oci"), Options{Epoch: epoch})
	if err == nil || !strings.Contains(err.Error(), "Architecture") {
		t.Errorf("image without architecture: %v", err)
	}
	_, err = Write(context.Background(), fixture(), filepath.Join(dir, "x.img"), Options{})
	if err == nil || !strings.Contains(err.Error(), "cannot tell the output format") {
		t.Errorf("unknown ending: %v", err)
	}
	assertNoTemp(t, dir)
}

func TestProgress(t *testing.T) {
	var last, total int64
	calls := 0
	src := fixture()
	write(t, src, filepath.Join(t.TempDir(), "p.tar"), Options{Progress: func(d, tot int64) {
		if d < last {
			t.Errorf("progress went back from %d to %d", last, d)
		}
		last, total = d, tot
		calls++
	}})
	var want int64
	for _, b := range src.files {
		want += int64(len(b))
	}
	// Hardlinked content is counted once: src.files has one copy.
	if last != total || calls < 2 {
		t.Errorf("progress ended at %d/%d after %d calls", last, total, calls)
	}
	if total != want {
		t.Errorf("progress total %d, want %d", total, want)
	}
}

func TestOCIPlatform(t *testing.T) {
	for _, tt := range []struct{ deb, arch, variant string }{
		{"amd64", "amd64", ""}, {"arm64", "arm64", "v8"}, {"armhf", "arm", "v7"}, {"armel", "arm", "v5"},
		{"i386", "386", ""}, {"ppc64el", "ppc64le", ""}, {"s390x", "s390x", ""}, {"riscv64", "riscv64", ""},
	} {
		a, v, err := OCIPlatform(tt.deb)
		if err != nil || a != tt.arch || v != tt.variant {
			t.Errorf("OCIPlatform(%q) = %q, %q, %v", tt.deb, a, v, err)
		}
	}
	if _, _, err := OCIPlatform("hurd-i386"); err == nil {
		t.Error("OCIPlatform(hurd-i386) succeeded")
	}
}

// bigSource is a synthetic root of n files of size bytes each, somewhat
// compressible, for benchmarks.
func bigSource(n, size int) *memSource {
	m := &memSource{files: map[string][]byte{}}
	m.entries = append(m.entries, rootfs.Entry{Path: "/", Type: tar.TypeDir, Mode: 0o755},
		rootfs.Entry{Path: "/data", Type: tar.TypeDir, Mode: 0o755})
	x := uint64(88172645463325252)
	for i := 0; i < n; i++ {
		b := make([]byte, size)
		for j := range b {
			if j%16 == 0 {
				x ^= x << 13
				x ^= x >> 7
				x ^= x << 17
			}
			b[j] = "abcdefghijklmnop"[(x>>(j%16*4))&15]
		}
		p := fmt.Sprintf("/data/f%05d", i)
		m.entries = append(m.entries, rootfs.Entry{Path: p, Type: tar.TypeReg, Mode: 0o644, Size: int64(size)})
		m.files[p] = b
	}
	return m
}

func BenchmarkWrite(b *testing.B) {
	src := bigSource(256, 64<<10) // 16 MiB
	for _, f := range Formats {
		b.Run(string(f), func(b *testing.B) {
			needTools(b, f)
			b.SetBytes(16 << 20)
			dir := b.TempDir()
			for i := 0; b.Loop(); i++ {
				target := filepath.Join(dir, fmt.Sprint(i))
				if _, err := Write(context.Background(), src, target, Options{Format: f, Epoch: epoch, Architecture: "amd64"}); err != nil {
					b.Fatal(err)
				}
				removeAll(target)
			}
		})
	}
}

// TestWriteback: a stream longer than a write-back chunk reaches the
// file whole.
func TestWriteback(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := &writeback{f: f}
	chunk := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	var want int64
	for i := range 40 {
		n, err := w.Write(chunk[:len(chunk)-i])
		if err != nil || n != len(chunk)-i {
			t.Fatal(n, err)
		}
		want += int64(n)
	}
	if w.start == 0 || w.off != want {
		t.Errorf("write-back started at %d, offset %d (want %d)", w.start, w.off, want)
	}
	if fi, err := f.Stat(); err != nil || fi.Size() != want {
		t.Errorf("size %v %v, want %d", fi.Size(), err, want)
	}
}
