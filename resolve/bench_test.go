package resolve

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/debstrap/debstrap/apt"
)

// Benchmarks run on real indexes: DEBSTRAP_BENCH_INDEXES names a suite
// directory of a local archive tree (…/dists/bookworm, holding InRelease or
// Release and COMPONENT/binary-ARCH/Packages, uncompressed); without it
// they look in testdata/bench, and skip when that is absent too.

func benchIndexes(tb testing.TB) (pkgs []*apt.Package, suite, arch string) {
	tb.Helper()
	dir := os.Getenv("DEBSTRAP_BENCH_INDEXES")
	if dir == "" {
		dir = filepath.Join("testdata", "bench")
	}
	pkgs, suite, arch, err := loadSuiteDir(dir, 0)
	if err != nil {
		tb.Skipf("no benchmark indexes (%v); set DEBSTRAP_BENCH_INDEXES to an archive's dists/SUITE directory", err)
	}
	return pkgs, suite, arch
}

// loadSuiteDir reads every COMPONENT/binary-ARCH/Packages under a suite
// directory. The native architecture is the one with most stanzas.
func loadSuiteDir(dir string, order int) ([]*apt.Package, string, string, error) {
	codename := ""
	for _, name := range []string{"InRelease", "Release"} {
		if b, err := os.ReadFile(filepath.Join(dir, name)); err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				if v, ok := strings.CutPrefix(line, "Codename:"); ok {
					codename = strings.TrimSpace(v)
					break
				}
			}
			break
		}
	}
	files, err := filepath.Glob(filepath.Join(dir, "*", "binary-*", "Packages"))
	if err != nil {
		return nil, "", "", err
	}
	if len(files) == 0 {
		return nil, "", "", os.ErrNotExist
	}
	suite := filepath.Base(dir)
	count := map[string]int{}
	var all []*apt.Package
	for _, path := range files {
		comp := filepath.Base(filepath.Dir(filepath.Dir(path)))
		arch := strings.TrimPrefix(filepath.Base(filepath.Dir(path)), "binary-")
		f, err := os.Open(path)
		if err != nil {
			return nil, "", "", err
		}
		idx := &apt.Index{Mirror: "file:" + dir, Suite: suite, Codename: codename, Component: comp, Architecture: arch, Order: order}
		pkgs, err := apt.ParsePackages(bufio.NewReader(f), idx)
		f.Close()
		if err != nil {
			return nil, "", "", err
		}
		count[arch] += len(pkgs)
		all = append(all, pkgs...)
	}
	native := ""
	for a, n := range count {
		if native == "" || n > count[native] || (n == count[native] && a < native) {
			native = a
		}
	}
	return all, suite, native, nil
}

func benchResolve(b *testing.B, variant string, include ...string) {
	pkgs, suite, arch := benchIndexes(b)
	req := Request{Packages: pkgs, Variant: variant, Architecture: arch, Suite: suite, Include: include}
	b.ReportAllocs()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	cpu0 := cpuTime()
	b.ResetTimer()
	var n int
	for i := 0; i < b.N; i++ {
		res, err := Resolve(context.Background(), req)
		if err != nil {
			b.Fatal(err)
		}
		n = len(res.Packages)
	}
	b.StopTimer()
	cpu := cpuTime() - cpu0
	runtime.ReadMemStats(&after)
	// CPU time (user+system, all threads, GC included) is what the budget
	// is about, and it is less disturbed than wall time on a busy machine.
	b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
	b.ReportMetric(float64(n), "pkgs")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N)/(1<<20), "MB-alloc/op")
}

func BenchmarkResolveMinbase(b *testing.B)   { benchResolve(b, "minbase") }
func BenchmarkResolveBuildd(b *testing.B)    { benchResolve(b, "buildd") }
func BenchmarkResolveImportant(b *testing.B) { benchResolve(b, "important") }
func BenchmarkResolveStandard(b *testing.B)  { benchResolve(b, "standard") }
func BenchmarkResolveMinbaseCurl(b *testing.B) {
	benchResolve(b, "minbase", "curl", "ca-certificates")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkUniverse measures building the cache alone (numbering every
// package, versions, provides) — the part that grows with the index.
func BenchmarkUniverse(b *testing.B) {
	pkgs, _, arch := benchIndexes(b)
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		newUniverse(pkgs, arch, nil)
	}
	b.StopTimer()
	b.ReportMetric(float64((cpuTime()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
}
