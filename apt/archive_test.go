package apt

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/debstrap/debstrap/cache"
	"github.com/debstrap/debstrap/internal/testarchive"
)

func newCache(t *testing.T) (*cache.Cache, string) {
	t.Helper()
	dir := t.TempDir()
	c, err := cache.New(cache.Options{Dir: dir, Retries: -1})
	if err != nil {
		t.Fatal(err)
	}
	return c, dir
}

// checkCache walks the cache directory: every blob must hash to its name,
// no temporary file may be left, and exactly wantSigned signed files (the
// stored InRelease/Release) may exist, since a Release that failed any
// check must not be kept.
func checkCache(t *testing.T, dir string, wantSigned int) {
	t.Helper()
	signed := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		switch top, _, _ := strings.Cut(filepath.ToSlash(rel), "/"); top {
		case "blobs":
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			if hex.EncodeToString(sum[:]) != filepath.Base(p) {
				t.Errorf("cache holds unverified blob %s", rel)
			}
		case "tmp":
			t.Errorf("cache holds a temporary file %s", rel)
		case "signed":
			signed++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if signed != wantSigned {
		t.Errorf("cache holds %d signed files, want %d", signed, wantSigned)
	}
}

var testDebs = map[string][]testarchive.Deb{
	"main": {
		testarchive.NewDeb("base-files", "12.4", "Essential: yes", "Priority: required"),
		testarchive.NewDeb("bash", "5.2.15-2", "Essential: yes", "Pre-Depends: libc6 (>= 2.36)"),
		testarchive.NewDeb("libc6", "2.36-9", "Multi-Arch: same"),
		testarchive.NewDeb("tzdata", "2024a-0", "Architecture: all"),
	},
}

func stableSuite() testarchive.Suite {
	// Dir "stable": the tests ask for "stable", and testarchive's faults
	// match by-hash paths by their real directory, not through the
	// Codename symlink.
	return testarchive.Suite{
		Name: "stable", Codename: "bookworm", Dir: "stable",
		Components: []string{"main"}, Architectures: []string{"amd64"},
		Packages: testDebs,
	}
}

func source(srv *testarchive.Server, suite string) Source {
	return Source{
		Mirror: srv.URL, Suite: suite,
		Components: []string{"main"}, Architectures: []string{"amd64"},
		Keyring: srv.Key.KeyRing(), Order: 3,
	}
}

func names(pkgs []*Package) []string {
	var out []string
	for _, p := range pkgs {
		out = append(out, p.Name+"_"+p.Version+"_"+p.Architecture)
	}
	sort.Strings(out)
	return out
}

func countPrefix(reqs []string, sub string) int {
	n := 0
	for _, r := range reqs {
		if strings.Contains(r, sub) {
			n++
		}
	}
	return n
}

func mustContain(t *testing.T, err error, subs ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one containing %q", subs)
	}
	t.Logf("error (as expected): %v", err)
	for _, s := range subs {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not contain %q", err, s)
		}
	}
}

func TestArchiveHonest(t *testing.T) {
	srv := testarchive.Serve(t, testarchive.Archive{Suites: []testarchive.Suite{stableSuite()}})
	ctx := context.Background()
	for _, asked := range []string{"bookworm", "stable"} { // codename or suite, as apt allows
		t.Run(asked, func(t *testing.T) {
			c, dir := newCache(t)
			srv.ResetLog()
			a, err := Open(ctx, c, source(srv, asked), OpenOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if r := a.Release(); r.Codename != "bookworm" || r.Signer != srv.Key.Fingerprint() {
				t.Errorf("release: codename %q signer %q", r.Codename, r.Signer)
			}
			pkgs, err := a.Packages(ctx, "main", "amd64")
			if err != nil {
				t.Fatal(err)
			}
			want := []string{"base-files_12.4_amd64", "bash_5.2.15-2_amd64", "libc6_2.36-9_amd64", "tzdata_2024a-0_all"}
			if got := names(pkgs); !slices.Equal(got, want) {
				t.Errorf("got %v, want %v", got, want)
			}
			idx := pkgs[0].Index
			if idx.Mirror != srv.URL || idx.Suite != asked || idx.Codename != "bookworm" || idx.Component != "main" || idx.Architecture != "amd64" || idx.Order != 3 {
				t.Errorf("index %+v", idx)
			}
			// by-hash is used when offered; gzip is read before xz.
			reqs := srv.Requests()
			if countPrefix(reqs, "binary-amd64/by-hash/SHA256/") != 1 || countPrefix(reqs, "/Packages") != 0 {
				t.Errorf("requests %v: want one by-hash index fetch and no plain one", reqs)
			}
			checkCache(t, dir, 1)

			// Warm: only InRelease goes to the network.
			srv.ResetLog()
			a, err = Open(ctx, c, source(srv, asked), OpenOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := a.Packages(ctx, "main", "amd64"); err != nil {
				t.Fatal(err)
			}
			if reqs := srv.Requests(); len(reqs) != 1 || !strings.HasSuffix(reqs[0], "/InRelease") {
				t.Errorf("warm requests %v, want only InRelease", reqs)
			}
		})
	}
}

func TestArchiveNoByHash(t *testing.T) {
	s := stableSuite()
	s.NoByHash = true
	srv := testarchive.Serve(t, testarchive.Archive{Suites: []testarchive.Suite{s}})
	c, _ := newCache(t)
	a, err := Open(context.Background(), c, source(srv, "stable"), OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Packages(context.Background(), "main", "amd64"); err != nil {
		t.Fatal(err)
	}
	if reqs := srv.Requests(); countPrefix(reqs, "by-hash") != 0 || countPrefix(reqs, "binary-amd64/Packages.gz") != 1 {
		t.Errorf("requests %v", reqs)
	}
}

func TestArchiveTamperedPackages(t *testing.T) {
	for _, byHash := range []bool{true, false} {
		t.Run(fmt.Sprint("by-hash=", byHash), func(t *testing.T) {
			s := stableSuite()
			s.NoByHash = !byHash
			srv := testarchive.Serve(t, testarchive.Archive{Suites: []testarchive.Suite{s}})
			srv.Inject(testarchive.Corrupt("Packages.gz"))
			c, dir := newCache(t)
			a, err := Open(context.Background(), c, source(srv, "stable"), OpenOptions{})
			if err != nil {
				t.Fatal(err)
			}
			_, err = a.Packages(context.Background(), "main", "amd64")
			want := a.Release().SHA256["main/binary-amd64/Packages.gz"].SHA256
			mustContain(t, err, srv.URL+"/dists/stable/main/binary-amd64/Packages.gz", "sha256 mismatch", "expected "+want, "got ")
			// A checksum error is not a reason to try another variant.
			if n := countPrefix(srv.Requests(), "Packages.xz"); n != 0 {
				t.Errorf("fell back to Packages.xz after a checksum error")
			}
			checkCache(t, dir, 1)
		})
	}
}

func TestArchiveSignatureFailures(t *testing.T) {
	stranger, err := testarchive.NewKey("Stranger")
	if err != nil {
		t.Fatal(err)
	}
	release := func(srv *testarchive.Server) []byte {
		b, err := os.ReadFile(filepath.Join(srv.Dir, "dists/stable/Release"))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, tc := range []struct {
		name   string
		suite  func(*testarchive.Suite)
		key    *testarchive.Key // signs the archive; nil: default
		fault  func(srv *testarchive.Server) testarchive.Fault
		opts   OpenOptions
		want   []string
		wantOK bool
	}{
		{name: "unknown key", key: stranger, want: []string{"unknown key", stranger.Fingerprint(), "--keyring", "/dists/stable/InRelease"}},
		{name: "unsigned archive", suite: func(s *testarchive.Suite) { s.Unsigned = true }, want: []string{"not signed", "Release.gpg is missing"}},
		{name: "InRelease without signature", fault: func(srv *testarchive.Server) testarchive.Fault {
			return testarchive.Replace("InRelease", release(srv))
		}, want: []string{"not signed", "InRelease"}},
		{name: "tampered InRelease", fault: func(*testarchive.Server) testarchive.Fault {
			return testarchive.Modify("InRelease", func(b []byte) []byte { return bytes.Replace(b, []byte("Label: Debian"), []byte("Label: Evil"), 1) })
		}, want: []string{"bad signature"}},
		{name: "expired Valid-Until", suite: func(s *testarchive.Suite) { s.ValidUntil = testarchive.DefaultTime.Add(7 * 24 * time.Hour) },
			want: []string{"/dists/stable/InRelease: expired on Sat, 08 Jun 2024 12:00:00 UTC", "Valid-Until"}},
		{name: "expired Valid-Until ignored", suite: func(s *testarchive.Suite) { s.ValidUntil = testarchive.DefaultTime.Add(7 * 24 * time.Hour) },
			opts: OpenOptions{IgnoreValidUntil: true}, wantOK: true},
		{name: "Date in the future", suite: func(s *testarchive.Suite) { s.Date = time.Now().Add(time.Hour) }, want: []string{"not valid yet"}},
		{name: "no InRelease: Release and Release.gpg", suite: func(s *testarchive.Suite) { s.NoInRelease = true }, wantOK: true},
		{name: "no InRelease, tampered Release", suite: func(s *testarchive.Suite) { s.NoInRelease = true },
			fault: func(*testarchive.Server) testarchive.Fault {
				return testarchive.Modify("Release", func(b []byte) []byte { return bytes.Replace(b, []byte("Label: Debian"), []byte("Label: Evil"), 1) })
			}, want: []string{"bad signature", "/dists/stable/Release"}},
		{name: "suite mismatch", suite: func(s *testarchive.Suite) { s.Name = "testing"; s.Codename = "trixie" },
			want: []string{"expected suite stable, got Suite=testing Codename=trixie"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := stableSuite()
			if tc.suite != nil {
				tc.suite(&s)
			}
			srv := testarchive.Serve(t, testarchive.Archive{Suites: []testarchive.Suite{s}, Key: tc.key})
			if tc.fault != nil {
				srv.Inject(tc.fault(srv))
			}
			src := source(srv, "stable")
			if tc.key != nil {
				def, err := testarchive.DefaultKey()
				if err != nil {
					t.Fatal(err)
				}
				src.Keyring = def.KeyRing()
			}
			c, dir := newCache(t)
			a, err := Open(context.Background(), c, src, tc.opts)
			if tc.wantOK {
				if err != nil {
					t.Fatal(err)
				}
				if _, err := a.Packages(context.Background(), "main", "amd64"); err != nil {
					t.Fatal(err)
				}
				checkCache(t, dir, 1)
				return
			}
			mustContain(t, err, tc.want...)
			checkCache(t, dir, 0)
		})
	}
}

func TestArchiveMissingComponentArch(t *testing.T) {
	srv := testarchive.Serve(t, testarchive.Archive{Suites: []testarchive.Suite{stableSuite()}})
	src := source(srv, "stable")
	src.Components = []string{"main", "contrib"}
	src.Architectures = []string{"amd64", "riscv64"}
	c, dir := newCache(t)
	_, err := Open(context.Background(), c, src, OpenOptions{})
	mustContain(t, err, "does not have component contrib, architecture riscv64", "Components: main")
	checkCache(t, dir, 0)
}

// TestArchiveMirrorUpdate: the mirror pushes a new index between the
// Release and the Packages download. by-hash still serves the index the
// Release names; without by-hash the download must fail loudly.
func TestArchiveMirrorUpdate(t *testing.T) {
	for _, byHash := range []bool{true, false} {
		t.Run(fmt.Sprint("by-hash=", byHash), func(t *testing.T) {
			s := stableSuite()
			s.NoByHash = !byHash
			srv := testarchive.Serve(t, testarchive.Archive{Suites: []testarchive.Suite{s}})
			c, dir := newCache(t)
			a, err := Open(context.Background(), c, source(srv, "stable"), OpenOptions{})
			if err != nil {
				t.Fatal(err)
			}
			s2 := s
			s2.Packages = map[string][]testarchive.Deb{"main": append(slices.Clone(testDebs["main"]), testarchive.NewDeb("zsh", "5.9-4"))}
			srv.Update(testarchive.Archive{Suites: []testarchive.Suite{s2}})

			pkgs, err := a.Packages(context.Background(), "main", "amd64")
			if byHash {
				if err != nil {
					t.Fatal(err)
				}
				if len(pkgs) != 4 {
					t.Errorf("got %v, want the index the Release named", names(pkgs))
				}
			} else {
				mustContain(t, err, "/dists/stable/main/binary-amd64/Packages.gz", "mismatch", "expected", "mirror being updated")
			}
			checkCache(t, dir, 1)
		})
	}
}

func TestArchiveCompressionFallback(t *testing.T) {
	s := stableSuite()
	s.IndexCompressions = []string{"xz", "gz", ""}
	srv := testarchive.Serve(t, testarchive.Archive{Suites: []testarchive.Suite{s}})
	ctx := context.Background()

	c, _ := newCache(t)
	a, err := Open(ctx, c, source(srv, "stable"), OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	srv.Inject(testarchive.NotFound("Packages.gz"))
	pkgs, err := a.Packages(ctx, "main", "amd64")
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) != 4 {
		t.Errorf("got %v", names(pkgs))
	}
	if n := srv.Count("Packages.xz"); n != 1 {
		t.Errorf("Packages.xz fetched %d times, want 1; requests %v", n, srv.Requests())
	}

	// Nothing is on the mirror at all: the error names the index.
	srv.Inject(testarchive.NotFound("Packages*"))
	c2, dir2 := newCache(t)
	a, err = Open(ctx, c2, source(srv, "stable"), OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.Packages(ctx, "main", "amd64")
	mustContain(t, err, "/dists/stable/main/binary-amd64/Packages", "no variant", "404")
	checkCache(t, dir2, 1)
}

func TestArchiveNoSupportForArchitectureAll(t *testing.T) {
	s := stableSuite()
	s.Architectures = []string{"all", "amd64", "arm64"}
	s.ReleaseFields = []testarchive.Field{{Name: "No-Support-for-Architecture-all", Value: "Packages"}}
	srv := testarchive.Serve(t, testarchive.Archive{Suites: []testarchive.Suite{s}})
	c, _ := newCache(t)
	a, err := Open(context.Background(), c, source(srv, "stable"), OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pkgs, err := a.Packages(context.Background(), "main", "amd64")
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) != 4 {
		t.Errorf("got %v", names(pkgs))
	}
	if n := srv.Count("binary-all/*"); n != 0 {
		t.Errorf("binary-all read %d times although the Release says the arch indexes hold arch:all", n)
	}
}

// TestArchiveBinaryAll: an archive listing architecture "all" without
// No-Support-for-Architecture-all keeps arch:all stanzas in binary-all;
// they are read once and merged into every architecture, without
// duplicates when the architecture index has them too.
func TestArchiveBinaryAll(t *testing.T) {
	key, err := testarchive.DefaultKey()
	if err != nil {
		t.Fatal(err)
	}
	stanza := func(name, arch string) string {
		return fmt.Sprintf("Package: %s\nVersion: 1.0\nArchitecture: %s\nFilename: pool/main/%s_1.0_%s.deb\nSize: 10\nSHA256: %064x\n", name, arch, name, arch, 1)
	}
	files := map[string][]byte{
		"main/binary-amd64/Packages": []byte(stanza("ls", "amd64") + "\n" + stanza("dup", "all")),
		"main/binary-arm64/Packages": []byte(stanza("ls", "arm64")),
		"main/binary-all/Packages":   []byte(stanza("doc", "all") + "\n" + stanza("dup", "all")),
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(files["main/binary-all/Packages"])
	zw.Close()
	files["main/binary-all/Packages.gz"] = gz.Bytes()

	rel := "Suite: stable\nCodename: bookworm\nDate: Sat, 01 Jun 2024 12:00:00 UTC\nArchitectures: all amd64 arm64\nComponents: main\nSHA256:\n"
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		sum := sha256.Sum256(files[p])
		rel += fmt.Sprintf(" %x %d %s\n", sum, len(files[p]), p)
	}
	inRelease, err := key.ClearSign([]byte(rel))
	if err != nil {
		t.Fatal(err)
	}
	files["InRelease"] = inRelease
	var (
		mu   sync.Mutex
		reqs []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := strings.TrimPrefix(r.URL.Path, "/dists/stable/")
		mu.Lock()
		reqs = append(reqs, p)
		mu.Unlock()
		if b, ok := files[p]; ok {
			w.Write(b)
			return
		}
		http.NotFound(w, r)
	}))
	defer srv.Close()

	c, _ := newCache(t)
	src := Source{Mirror: srv.URL, Suite: "stable", Components: []string{"main"}, Architectures: []string{"amd64", "arm64"}, Keyring: key.KeyRing()}
	a, err := Open(context.Background(), c, src, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	amd64, err := a.Packages(context.Background(), "main", "amd64")
	if err != nil {
		t.Fatal(err)
	}
	arm64, err := a.Packages(context.Background(), "main", "arm64")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(amd64), []string{"doc_1.0_all", "dup_1.0_all", "ls_1.0_amd64"}; !slices.Equal(got, want) {
		t.Errorf("amd64: got %v, want %v", got, want)
	}
	if got, want := names(arm64), []string{"doc_1.0_all", "dup_1.0_all", "ls_1.0_arm64"}; !slices.Equal(got, want) {
		t.Errorf("arm64: got %v, want %v", got, want)
	}
	byName := func(pkgs []*Package, n string) *Package {
		for _, p := range pkgs {
			if p.Name == n {
				return p
			}
		}
		return nil
	}
	if d1, d2 := byName(amd64, "doc"), byName(arm64, "doc"); d1 != d2 || d1.Index.Architecture != "all" {
		t.Errorf("binary-all stanzas should be shared and carry the binary-all index")
	}
	if n := countPrefix(reqs, "binary-all/"); n != 1 {
		t.Errorf("binary-all fetched %d times, want 1 (%v)", n, reqs)
	}
	// Not a by-hash archive, and .gz is preferred to the plain file.
	if !slices.Contains(reqs, "main/binary-all/Packages.gz") {
		t.Errorf("requests %v", reqs)
	}
}

func TestOpenRejectsBadSource(t *testing.T) {
	c, _ := newCache(t)
	keys := openpgp.EntityList{}
	for _, tc := range []struct {
		src  Source
		want string
	}{
		{Source{Mirror: "ftp://x", Suite: "s", Components: []string{"main"}, Architectures: []string{"amd64"}}, "http"},
		{Source{Mirror: "http://x", Suite: "./", Components: []string{"main"}, Architectures: []string{"amd64"}}, "flat"},
		{Source{Mirror: "http://x", Suite: "../x", Components: []string{"main"}, Architectures: []string{"amd64"}}, "bad suite"},
		{Source{Mirror: "http://x", Suite: "s", Architectures: []string{"amd64"}}, "no component"},
		{Source{Mirror: "http://x", Suite: "s", Components: []string{"main"}, Architectures: []string{"amd64"}, Keyring: keys}, "--keyring"},
	} {
		if _, err := Open(context.Background(), c, tc.src, OpenOptions{}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want %q", tc.src, err, tc.want)
		}
	}
}

// A validly signed Release older than the one seen before is refused, as
// apt refuses it: replaying an old archive must not hold back updates.
func TestArchiveRefusesOlderRelease(t *testing.T) {
	s := stableSuite()
	s.Date = time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
	srv := testarchive.Serve(t, testarchive.Archive{Suites: []testarchive.Suite{s}})
	c, _ := newCache(t)
	if _, err := Open(context.Background(), c, source(srv, "stable"), OpenOptions{}); err != nil {
		t.Fatal(err)
	}
	old := s
	old.Date = s.Date.AddDate(0, -1, 0)
	srv.Update(testarchive.Archive{Suites: []testarchive.Suite{old}})
	_, err := Open(context.Background(), c, source(srv, "stable"), OpenOptions{})
	mustContain(t, err, "/dists/stable/InRelease", "older than", "replays an old archive")

	newer := s
	newer.Date = s.Date.AddDate(0, 1, 0)
	srv.Update(testarchive.Archive{Suites: []testarchive.Suite{newer}})
	if _, err := Open(context.Background(), c, source(srv, "stable"), OpenOptions{}); err != nil {
		t.Fatalf("a newer Release: %v", err)
	}
}

// A cached index damaged after it was verified (same size, one byte
// flipped) decodes wrong: it is checked again, fetched again, and read.
func TestArchiveDamagedCachedIndex(t *testing.T) {
	srv := testarchive.Serve(t, testarchive.Archive{Suites: []testarchive.Suite{stableSuite()}})
	ctx := context.Background()
	c, dir := newCache(t)
	a, err := Open(ctx, c, source(srv, "stable"), OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Packages(ctx, "main", "amd64"); err != nil {
		t.Fatal(err)
	}
	var blobs []string
	filepath.WalkDir(filepath.Join(dir, "blobs"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			blobs = append(blobs, p)
		}
		return err
	})
	if len(blobs) != 1 {
		t.Fatalf("blobs %v, want the one index", blobs)
	}
	b, err := os.ReadFile(blobs[0])
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(blobs[0], b, 0o644); err != nil {
		t.Fatal(err)
	}
	// Its decompressed copy gone too, else that is what is read.
	if err := os.RemoveAll(filepath.Join(dir, "derived")); err != nil {
		t.Fatal(err)
	}
	srv.ResetLog()
	a, err = Open(ctx, c, source(srv, "stable"), OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pkgs, err := a.Packages(ctx, "main", "amd64")
	if err != nil {
		t.Fatalf("a damaged cached index is not repaired: %v", err)
	}
	if len(pkgs) != 4 {
		t.Errorf("got %d packages, want 4", len(pkgs))
	}
	if reqs := srv.Requests(); countPrefix(reqs, "by-hash/SHA256/") != 1 {
		t.Errorf("requests %v: want the index fetched again once", reqs)
	}
	checkCache(t, dir, 1)
}

// A compressed index is kept decompressed beside its blob (a derived
// file): the next read parses that copy, which proves itself as it
// streams; a damaged copy is made again from the blob, with the same
// packages.
func TestArchiveDerivedIndex(t *testing.T) {
	srv := testarchive.Serve(t, testarchive.Archive{Suites: []testarchive.Suite{stableSuite()}})
	ctx := context.Background()
	c, dir := newCache(t)
	read := func() []*Package {
		t.Helper()
		a, err := Open(ctx, c, source(srv, "stable"), OpenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		pkgs, err := a.Packages(ctx, "main", "amd64")
		if err != nil {
			t.Fatal(err)
		}
		if len(pkgs) != 4 {
			t.Fatalf("got %d packages, want 4", len(pkgs))
		}
		return pkgs
	}
	first := read()
	derived, _ := filepath.Glob(filepath.Join(dir, "derived", plainIndexKind, "*"))
	if len(derived) != 1 {
		t.Fatalf("derived copies %v, want one", derived)
	}
	for i, damage := range []func([]byte) []byte{
		func(b []byte) []byte { b[len(b)-10] ^= 1; return b }, // a flipped byte of the index
		func(b []byte) []byte { return b[:len(b)-100] },       // truncated
		func(b []byte) []byte { return nil },                  // empty
	} {
		b, err := os.ReadFile(derived[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(derived[0], damage(bytes.Clone(b)), 0o644); err != nil {
			t.Fatal(err)
		}
		again := read()
		for j := range first {
			if first[j].Name != again[j].Name || first[j].SHA256 != again[j].SHA256 {
				t.Errorf("damage %d: package %d %s, want %s", i, j, again[j].Name, first[j].Name)
			}
		}
		if b2, _ := os.ReadFile(derived[0]); !bytes.Equal(b2, b) {
			t.Errorf("damage %d: the copy was not made again", i)
		}
	}
	checkCache(t, dir, 1)
}
