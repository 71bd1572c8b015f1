package resolve

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestDifferentialApt generates random small archives (alternatives,
// virtual packages, versioned Provides, Conflicts and Breaks, several
// suites) and checks that Resolve and apt agree on each: same package
// set, or both refusing. It runs apt-get, so only on request:
//
//	DEBSTRAP_RESOLVE_DIFF=200 go test ./resolve/ -run Differential
//
// (the value is the number of archives; DEBSTRAP_RESOLVE_DIFF_SEED picks
// the first seed).
func TestDifferentialApt(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("DEBSTRAP_RESOLVE_DIFF"))
	if n <= 0 {
		t.Skip("set DEBSTRAP_RESOLVE_DIFF=N to compare N random archives with apt")
	}
	script := oracleScript(t)
	first, _ := strconv.ParseInt(os.Getenv("DEBSTRAP_RESOLVE_DIFF_SEED"), 10, 64)
	failures := 0
	multiarch := os.Getenv("DEBSTRAP_RESOLVE_DIFF_MODE") == "multiarch"
	for seed := first; seed < first+int64(n); seed++ {
		var indexes []testIndex
		var variant string
		var include, foreign []string
		var recommends bool
		if multiarch {
			indexes, variant, include, foreign, recommends = randomMultiArchArchive(rand.New(rand.NewSource(seed)))
		} else {
			indexes, variant, include = randomArchive(rand.New(rand.NewSource(seed)))
		}
		want, aptErr := runOracle(t, script, indexes, variant, include, foreign, recommends)
		res, err := resolveCase(t, indexes, variant, include, foreign, recommends)
		var got string
		if err == nil {
			got = lines(res.Packages)
		}
		switch {
		case aptErr != nil && err != nil:
			continue
		case aptErr != nil:
			t.Errorf("seed %d: apt fails, Resolve gives\n%s\napt: %v", seed, got, aptErr)
		case err != nil:
			t.Errorf("seed %d: apt gives\n%s\nResolve fails: %v", seed, want, err)
		case normWant(want) != got:
			t.Errorf("seed %d: apt gives\n%s\nResolve gives\n%s", seed, normWant(want), got)
		default:
			continue
		}
		failures++
		if failures == 1 {
			t.Logf("seed %d: variant %s include %v foreign %v recommends %v\n%s", seed, variant, include, foreign, recommends, dumpIndexes(indexes))
		}
		if failures > 10 {
			t.Fatal("too many differences")
		}
	}
}

func dumpIndexes(indexes []testIndex) string {
	var b strings.Builder
	for _, ti := range indexes {
		ti = ti.norm()
		fmt.Fprintf(&b, "== %s/%s order %d\n%s\n", ti.suite, ti.component, ti.order, strings.TrimSpace(ti.stanzas))
	}
	return b.String()
}

func randomArchive(r *rand.Rand) ([]testIndex, string, []string) {
	const npkg = 14
	names := make([]string, npkg)
	for i := range names {
		names[i] = fmt.Sprintf("p%02d", i)
	}
	virtuals := []string{"v0", "v1", "v2"}
	self := ""
	target := func() string {
		switch x := r.Intn(20); {
		case x < 14:
			// no self-dependencies: they make apt's unpack ordering
			// give up (MaxLoopCount), which is not about resolving
			n := names[r.Intn(npkg)]
			for n == self {
				n = names[r.Intn(npkg)]
			}
			return n
		case x < 19:
			return virtuals[r.Intn(len(virtuals))]
		default:
			return "missing"
		}
	}
	constraint := func() string {
		if r.Intn(4) != 0 {
			return ""
		}
		ops := []string{"<<", "<=", "=", ">=", ">>"}
		return fmt.Sprintf(" (%s %d)", ops[r.Intn(len(ops))], 1+r.Intn(2))
	}
	prios := []string{"required", "important", "optional", "optional", "extra"}
	stanza := func(name string, version int) string {
		self = name
		var b strings.Builder
		fmt.Fprintf(&b, "Package: %s\nVersion: %d\nPriority: %s\n", name, version, prios[r.Intn(len(prios))])
		if r.Intn(12) == 0 {
			b.WriteString("Essential: yes\n")
		}
		var deps []string
		for g := r.Intn(4); g > 0; g-- {
			var alts []string
			for a := 1 + r.Intn(3)*r.Intn(2); a > 0; a-- {
				alts = append(alts, target()+constraint())
			}
			deps = append(deps, strings.Join(alts, " | "))
		}
		if len(deps) > 0 {
			field := "Depends"
			if r.Intn(6) == 0 {
				field = "Pre-Depends"
			}
			fmt.Fprintf(&b, "%s: %s\n", field, strings.Join(deps, ", "))
		}
		if r.Intn(5) == 0 {
			fmt.Fprintf(&b, "Conflicts: %s%s\n", target(), constraint())
		}
		if r.Intn(7) == 0 {
			fmt.Fprintf(&b, "Breaks: %s%s\n", target(), constraint())
		}
		if r.Intn(3) == 0 {
			v := virtuals[r.Intn(len(virtuals))]
			if r.Intn(2) == 0 {
				v += fmt.Sprintf(" (= %d)", 1+r.Intn(2))
			}
			fmt.Fprintf(&b, "Provides: %s\n", v)
		}
		return b.String()
	}
	var main, upd []string
	for _, name := range names {
		main = append(main, stanza(name, 1))
		if r.Intn(4) == 0 {
			upd = append(upd, stanza(name, 2))
		}
	}
	main = append(main, "Package: apt\nVersion: 1\nPriority: important\n")
	// shuffle stanza order within the index: apt's numbering follows it
	r.Shuffle(len(main), func(i, j int) { main[i], main[j] = main[j], main[i] })
	indexes := []testIndex{{stanzas: strings.Join(main, "\n")}}
	if len(upd) > 0 {
		indexes = append(indexes, testIndex{suite: "test-updates", order: 1, stanzas: strings.Join(upd, "\n")})
	}
	variants := []string{"custom", "custom", "essential", "minbase", "important"}
	variant := variants[r.Intn(len(variants))]
	var include []string
	for k := r.Intn(3); k >= 0; k-- {
		if variant != "custom" && r.Intn(2) == 0 {
			continue
		}
		include = append(include, names[r.Intn(npkg)])
	}
	return indexes, variant, include
}

// TestDebugRandomArchive replays one random archive with apt-style marking
// traces and writes it out for e2e/resolve-oracle.sh:
//
//	DEBSTRAP_RESOLVE_DEBUG_SEED=551 DEBSTRAP_RESOLVE_DEBUG_DIR=/tmp/a go test ./resolve/ -run DebugRandom -v
func TestDebugRandomArchive(t *testing.T) {
	seed, err := strconv.ParseInt(os.Getenv("DEBSTRAP_RESOLVE_DEBUG_SEED"), 10, 64)
	if err != nil {
		t.Skip("set DEBSTRAP_RESOLVE_DEBUG_SEED")
	}
	var indexes []testIndex
	var variant string
	var include, foreign []string
	var recommends bool
	if os.Getenv("DEBSTRAP_RESOLVE_DIFF_MODE") == "multiarch" {
		indexes, variant, include, foreign, recommends = randomMultiArchArchive(rand.New(rand.NewSource(seed)))
	} else {
		indexes, variant, include = randomArchive(rand.New(rand.NewSource(seed)))
	}
	if dir := os.Getenv("DEBSTRAP_RESOLVE_DEBUG_DIR"); dir != "" {
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		writeArchive(t, dir, indexes)
	}
	t.Logf("variant %s include %v foreign %v recommends %v\n%s", variant, include, foreign, recommends, dumpIndexes(indexes))
	res, err := Resolve(context.Background(), Request{Packages: buildPackages(t, indexes), Variant: variant, Include: include,
		Foreign: foreign, Recommends: recommends, Architecture: "amd64", Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Log(err)
		return
	}
	t.Log("\n" + lines(res.Packages))
}

// randomMultiArchArchive (DEBSTRAP_RESOLVE_DIFF_MODE=multiarch) adds to
// randomArchive: Multi-Arch fields, ":any" relations, Recommends, and an
// i386 index with packages of the same names.
func randomMultiArchArchive(r *rand.Rand) ([]testIndex, string, []string, []string, bool) {
	indexes, variant, include := randomArchive(r)
	mas := []string{"", "", "same", "foreign", "allowed"}
	mutate := func(stanzas string) string {
		var out []string
		for _, para := range strings.Split(stanzas, "\n\n") {
			para = strings.TrimRight(para, "\n")
			if ma := mas[r.Intn(len(mas))]; ma != "" {
				para += "\nMulti-Arch: " + ma
			}
			if r.Intn(4) == 0 {
				para += fmt.Sprintf("\nRecommends: p%02d", r.Intn(14))
			}
			para = strings.Replace(para, "Depends: p0", "Depends: p0:any (>= 1) | p0", 1)
			out = append(out, para)
		}
		return strings.Join(out, "\n\n")
	}
	for i := range indexes {
		indexes[i].stanzas = mutate(indexes[i].stanzas)
	}
	// an i386 index: some of the main packages again
	var i386 []string
	for _, para := range strings.Split(indexes[0].stanzas, "\n\n") {
		if r.Intn(3) == 0 && !strings.Contains(para, "Package: apt\n") {
			i386 = append(i386, strings.Replace(para, "Essential: yes\n", "", 1))
		}
	}
	foreign := []string{"i386"}
	if len(i386) > 0 {
		indexes = append(indexes, testIndex{arch: "i386", stanzas: strings.Join(i386, "\n\n")})
		if r.Intn(2) == 0 {
			name := strings.TrimPrefix(strings.SplitN(i386[r.Intn(len(i386))], "\n", 2)[0], "Package: ")
			include = append(include, name+":i386")
		}
	}
	return indexes, variant, include, foreign, r.Intn(3) == 0
}
