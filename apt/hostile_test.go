package apt

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"github.com/debstrap/debstrap/internal/testarchive"
)

// oneStanza is a valid Packages index of one package.
const oneStanza = "Package: hello\nVersion: 2.10-3\nArchitecture: amd64\nFilename: pool/main/h/hello/hello_2.10-3_amd64.deb\nSize: 53000\nSHA256: " +
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n"

// compressed returns data compressed as ext, as a single stream.
func compressed(t testing.TB, ext string, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w io.WriteCloser
	var err error
	switch ext {
	case "":
		return data
	case ".gz":
		w, err = gzip.NewWriterLevel(&buf, gzip.BestCompression)
	case ".xz":
		w, err = xz.NewWriter(&buf)
	case ".zst":
		w, err = zstd.NewWriter(&buf, zstd.WithEncoderConcurrency(1))
	default:
		t.Fatalf("no compressor for %q", ext)
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// bomb is a small file that decompresses to n copies of unit: every format
// here reads concatenated streams, so one stream repeated costs nothing to
// build and expands to as much as the test wants.
func bomb(t testing.TB, ext string, unit []byte, n int) []byte {
	one := compressed(t, ext, unit)
	return bytes.Repeat(one, n)
}

// hostileArchive serves a suite "stable" whose Release (signed by the test
// key) lists the given files with the given sizes; a size of -1 lists the
// file's true size, and a file absent from sizes is not listed.
func hostileArchive(t *testing.T, files map[string][]byte, sizes map[string]int64) Source {
	t.Helper()
	key, err := testarchive.DefaultKey()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	dists := filepath.Join(dir, "dists", "stable")
	var rel strings.Builder
	fmt.Fprintf(&rel, "Suite: stable\nCodename: bookworm\nDate: %s\nArchitectures: amd64\nComponents: main\nSHA256:\n",
		testarchive.DefaultTime.Format("Mon, 02 Jan 2006 15:04:05 UTC"))
	for name, data := range files {
		p := filepath.Join(dists, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, size := range sizes {
		data := files[name]
		if size < 0 {
			size = int64(len(data))
		}
		sum := sha256.Sum256(data)
		fmt.Fprintf(&rel, " %s %d %s\n", hex.EncodeToString(sum[:]), size, name)
	}
	in, err := key.ClearSign([]byte(rel.String()))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dists, "InRelease"), in, 0o644); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(srv.Close)
	return Source{Mirror: srv.URL, Suite: "stable", Components: []string{"main"}, Architectures: []string{"amd64"}, Keyring: key.KeyRing()}
}

// TestArchiveIndexBombs: an index that decompresses past what the signed
// Release says ends in an error naming the index URL and the sizes, fast
// and in little memory, whatever the compression; one that decompresses to
// less is refused too.
func TestArchiveIndexBombs(t *testing.T) {
	const base = "main/binary-amd64/Packages"
	// 200,000 valid stanzas (some 40 MB, three times Debian's main in
	// packages, memory and parse time if read), in a file of a few
	// hundred KB.
	stanzas := []byte(oneStanza + "\n")
	zeros := make([]byte, 1<<20)
	for _, tc := range []struct {
		name   string
		ext    string
		data   func(t testing.TB) []byte
		listed int64 // size listed for the uncompressed index; 0: not listed
		want   []string
	}{
		{"xz past the listed size", ".xz", func(t testing.TB) []byte { return bomb(t, ".xz", bytes.Repeat(stanzas, 1000), 200) }, int64(len(stanzas)),
			[]string{"Packages.xz", fmt.Sprintf("more than the %d bytes the Release lists", len(stanzas))}},
		{"gz past the listed size", ".gz", func(t testing.TB) []byte { return bomb(t, ".gz", bytes.Repeat(stanzas, 1000), 200) }, int64(len(stanzas)),
			[]string{"Packages.gz", fmt.Sprintf("more than the %d bytes the Release lists", len(stanzas))}},
		{"zst past the listed size", ".zst", func(t testing.TB) []byte { return bomb(t, ".zst", bytes.Repeat(stanzas, 1000), 200) }, int64(len(stanzas)),
			[]string{"Packages.zst", fmt.Sprintf("more than the %d bytes the Release lists", len(stanzas))}},
		{"xz short of the listed size", ".xz", func(t testing.TB) []byte { return compressed(t, ".xz", stanzas) }, int64(len(stanzas)) + 100,
			[]string{"Packages.xz", fmt.Sprintf("decompressed to %d bytes, the Release lists %d", len(stanzas), len(stanzas)+100)}},
		// 10 GB of zeros with no uncompressed size listed: the line bound
		// stops it after a megabyte.
		{"gz zeros, size not listed", ".gz", func(t testing.TB) []byte { return bomb(t, ".gz", zeros, 10<<10) }, 0,
			[]string{"Packages.gz", "line 1: longer than 1048576 bytes"}},
		// Valid stanzas, no size listed: 32 times the compressed size.
		{"gz stanzas, size not listed", ".gz", func(t testing.TB) []byte { return bomb(t, ".gz", bytes.Repeat(stanzas, 1000), 200) }, 0,
			[]string{"Packages.gz", "decompresses to more than", "32 times its compressed size"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := tc.data(t)
			sizes := map[string]int64{base + tc.ext: -1}
			if tc.listed > 0 {
				sizes[base] = tc.listed
			}
			src := hostileArchive(t, map[string][]byte{base + tc.ext: data}, sizes)
			c, _ := newCache(t)
			ctx := context.Background()
			a, err := Open(ctx, c, src, OpenOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			start := time.Now()
			pkgs, err := a.Packages(ctx, "main", "amd64")
			took := time.Since(start)
			runtime.ReadMemStats(&after)
			if err == nil {
				t.Fatalf("accepted a bomb: %d packages", len(pkgs))
			}
			mustContain(t, err, append([]string{src.Mirror + "/dists/stable/"}, tc.want...)...)
			if took > 10*time.Second {
				t.Errorf("took %v", took)
			}
			// The whole expansion is hundreds of MB; what is read must
			// stay near the bound.
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 128<<20 {
				t.Errorf("allocated %d MB", alloc>>20)
			}
		})
	}
}

// TestArchiveHonestSizes: an index that decompresses to exactly the listed
// size is read, with or without an uncompressed size in the Release.
func TestArchiveHonestSizes(t *testing.T) {
	const base = "main/binary-amd64/Packages"
	for _, listed := range []bool{true, false} {
		t.Run(fmt.Sprint("listed=", listed), func(t *testing.T) {
			sizes := map[string]int64{base + ".xz": -1}
			if listed {
				sizes[base] = int64(len(oneStanza))
			}
			src := hostileArchive(t, map[string][]byte{base + ".xz": compressed(t, ".xz", []byte(oneStanza))}, sizes)
			c, _ := newCache(t)
			a, err := Open(context.Background(), c, src, OpenOptions{})
			if err != nil {
				t.Fatal(err)
			}
			pkgs, err := a.Packages(context.Background(), "main", "amd64")
			if err != nil || len(pkgs) != 1 || pkgs[0].Name != "hello" {
				t.Fatalf("got %v, %v", names(pkgs), err)
			}
		})
	}
}

// TestArchiveInvalidStanza: a package whose name breaks Policy is refused
// when the index is read, with the index URL, line, package and field.
func TestArchiveInvalidStanza(t *testing.T) {
	const base = "main/binary-amd64/Packages"
	index := []byte(oneStanza + "\n" + strings.Replace(oneStanza, "hello", "Hello", 1))
	src := hostileArchive(t, map[string][]byte{base + ".gz": compressed(t, ".gz", index)}, map[string]int64{base + ".gz": -1, base: int64(len(index))})
	c, _ := newCache(t)
	a, err := Open(context.Background(), c, src, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.Packages(context.Background(), "main", "amd64")
	mustContain(t, err, src.Mirror+"/dists/stable/main/binary-amd64/Packages.gz", `stanza at line 8 (Package "Hello")`,
		`line 8: Package: "Hello" is not a valid package name`)
}

// TestParsePackagesInvalidFields: each field the program relies on is
// checked as the index is read, and the error names the stanza's line and
// package, the field's line, the field and the value.
func TestParsePackagesInvalidFields(t *testing.T) {
	stanza := func(replace ...string) string { return strings.NewReplacer(replace...).Replace(oneStanza) }
	for _, tc := range []struct{ name, in, want string }{
		{"upper case name", stanza("hello", "Hello"), `stanza at line 1 (Package "Hello"): line 1: Package: "Hello" is not a valid package name (Policy 5.6.1`},
		{"one-letter name", stanza("Package: hello", "Package: h"), `line 1: Package: "h" is not a valid package name`},
		{"name starting with +", stanza("Package: hello", "Package: +hello"), `"+hello" is not a valid package name`},
		{"name with underscore", stanza("Package: hello", "Package: hel_lo"), `"hel_lo" is not a valid package name`},
		{"empty version", stanza("2.10-3\n", "\n"), `line 2: Version: empty version`},
		{"version with space", stanza("2.10-3\n", "2.10 3\n"), `line 2: Version: "2.10 3" is not a valid version: character ' ' in the upstream version`},
		{"bad epoch", stanza("2.10-3\n", "x:2.10-3\n"), `"x:2.10-3" is not a valid version: the epoch is not a number`},
		{"empty revision", stanza("2.10-3\n", "2.10-\n"), `the revision is empty`},
		{"bad revision", stanza("2.10-3\n", "2.10-3_4\n"), `character '_' in the revision`},
		{"bad architecture", stanza("Architecture: amd64", "Architecture: AMD64"), `line 3: Architecture: "AMD64" is not a valid architecture name`},
		{"architecture any", stanza("Architecture: amd64", "Architecture: any"), `"any" is not a valid architecture name`},
		{"dotdot filename", stanza("pool/main/h", "pool/../../h"), `line 4: Filename: "pool/../../h/hello/hello_2.10-3_amd64.deb" is not a relative path inside the mirror`},
		{"absolute filename", stanza("pool/main/h", "/pool/main/h"), `is not a relative path inside the mirror`},
		{"query in filename", stanza(".deb", ".deb?x=1"), `character '?' is not allowed`},
		{"backslash in filename", stanza("main/h", `main\h`), `character '\\' is not allowed`},
		{"zero size", stanza("Size: 53000", "Size: 0"), `line 5: package hello: bad Size "0", want a positive number of bytes`},
		{"negative size", stanza("Size: 53000", "Size: -5"), `bad Size "-5"`},
		{"signed size", stanza("Size: 53000", "Size: +5"), `bad Size "+5"`},
		{"huge size", stanza("Size: 53000", "Size: 99999999999999999999"), `bad Size "99999999999999999999"`},
		{"bad installed size", stanza("Size: 53000", "Size: 53000\nInstalled-Size: 1e3"), `bad Installed-Size "1e3"`},
		{"short sha256", stanza("0123456789abcdef\n", "\n"), `line 6: SHA256: "0123456789abcdef0123456789abcdef0123456789abcdef" is not a SHA256: want 64 hex digits, got 48`},
		{"non-hex sha256", stanza("0123456789abcdef\n", "0123456789abcdeg\n"), `character 'g' is not a hex digit`},
		{"no filename", stanza("Filename: pool/main/h/hello/hello_2.10-3_amd64.deb\n", ""), `stanza at line 1 (Package "hello"): no Filename field`},
		{"no size", stanza("Size: 53000\n", ""), `no Size field`},
		{"no sha256", stanza("SHA256: ", "MD5sum: "), `no SHA256 field`},
		{"duplicate package", stanza("Version:", "Package: other\nVersion:"), `line 2: package other: field Package appears twice (first at line 1)`},
		{"duplicate filename", stanza("Size:", "Filename: evil\nSize:"), `field Filename appears twice (first at line 4)`},
		{"second stanza", oneStanza + "\n" + stanza("hello", "Hello"), `stanza at line 8 (Package "Hello")`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParsePackages(strings.NewReader(tc.in), &Index{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want error containing %q", err, tc.want)
			}
		})
	}
	// The valid forms around those edges pass, and the SHA256 is kept in
	// lower case.
	for _, ok := range []string{
		oneStanza,
		strings.NewReplacer("hello", "g++-12", "2.10-3", "1:12.2.0-14+deb12u1~bpo.1", "amd64", "all").Replace(oneStanza),
		strings.NewReplacer("Version: 2.10-3", "Version: 0.0~git20240101", "abcdef", "ABCDEF", "pool/main", "pool/main/%3a").Replace(oneStanza),
	} {
		pkgs, err := ParsePackages(strings.NewReader(ok), &Index{})
		if err != nil || len(pkgs) != 1 || strings.ToLower(pkgs[0].SHA256) != pkgs[0].SHA256 {
			t.Errorf("%q: got %v, %v", ok, pkgs, err)
		}
	}
}

// TestParsePackagesBounds: a line or a stanza past its bound is an error
// naming it, sequential or parallel, at any chunk size; a long field
// continued over many lines costs linear time.
func TestParsePackagesBounds(t *testing.T) {
	lim := limits{line: 100, stanza: 300}
	for _, tc := range []struct{ name, in, want string }{
		{"long line", oneStanza + "\n" + "Package: a" + strings.Repeat("a", 200) + "\n", "line 8: longer than 100 bytes"},
		{"long line without newline", strings.Repeat("x", 1000), `line 1: longer than 100 bytes (Package "")`},
		{"long stanza", oneStanza + strings.Repeat("Depends: x\n", 30), `stanza at line 1 (Package "hello") is longer than 300 bytes`},
		{"long continued field", oneStanza + "Depends: x\n" + strings.Repeat(" y,\n", 100), `line 33: stanza at line 1 (Package "hello") is longer than 300 bytes`},
		{"CRLF stanzas then a long one", strings.ReplaceAll(oneStanza+"\n"+oneStanza+"\n", "\n", "\r\n") + strings.Repeat("X-Y: z\n", 60), `stanza at line 15 (Package "") is longer than 300 bytes`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseStanzas(strings.NewReader(tc.in), &Index{}, 0, lim)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("sequential: got %v, want error containing %q", err, tc.want)
			}
			for _, chunk := range []int{1, 7, 64, 1000} {
				_, perr := parseParallel(strings.NewReader(tc.in), &Index{}, 2, chunk, lim)
				if fmt.Sprint(perr) != fmt.Sprint(err) {
					t.Errorf("chunks of %d: got %v, want %v", chunk, perr, err)
				}
			}
		})
	}
	// CRLF files are cut at their blank lines too, so they are not held
	// whole in one chunk.
	crlf := strings.ReplaceAll(strings.Repeat(oneStanza+"\n", 50), "\n", "\r\n")
	pkgs, err := parseParallel(strings.NewReader(crlf), &Index{}, 2, 64, lim)
	if err != nil || len(pkgs) != 50 {
		t.Errorf("CRLF index: %d packages, %v", len(pkgs), err)
	}
	// 16 MB of one-character continuation lines: quadratic appends would
	// take minutes.
	long := oneStanza + "Depends: a\n" + strings.Repeat(" b\n", 1<<20)
	start := time.Now()
	_, err = parseStanzas(strings.NewReader(long), &Index{}, 0, limits{line: maxLine, stanza: 64 << 20})
	if err != nil || time.Since(start) > 5*time.Second {
		t.Errorf("long continued field: %v in %v", err, time.Since(start))
	}
	// With the default bounds, a megabyte of zeros is refused.
	_, err = ParsePackages(bytes.NewReader(make([]byte, 2<<20)), &Index{})
	if err == nil || !strings.Contains(err.Error(), "line 1: longer than 1048576 bytes") {
		t.Errorf("zeros: %v", err)
	}
}
