package resolve

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/debstrap/debstrap/apt"
)

// TestOracleMirror compares Resolve with apt (e2e/resolve-oracle.sh) on
// real indexes laid out as a local archive tree. Each line of
// DEBSTRAP_ORACLE_CASES holds the oracle's arguments, e.g.
//
//	DEBSTRAP_ORACLE_CASES='-v minbase bookworm /srv/mirror/debian
//	-v minbase -i curl,ca-certificates bookworm /srv/mirror/debian
//	-v minbase -c main,universe noble /srv/mirror/ubuntu noble-updates' \
//	go test ./resolve/ -run OracleMirror -v
func TestOracleMirror(t *testing.T) {
	cases := strings.TrimSpace(os.Getenv("DEBSTRAP_ORACLE_CASES"))
	if cases == "" {
		t.Skip("set DEBSTRAP_ORACLE_CASES (one line of resolve-oracle.sh arguments per case)")
	}
	script := oracleScript(t)
	for _, line := range strings.Split(cases, "\n") {
		args := strings.Fields(line)
		if len(args) == 0 {
			continue
		}
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			out, err := exec.Command(script, args...).Output()
			if err != nil {
				if ee, ok := err.(*exec.ExitError); ok {
					t.Fatalf("oracle: %v\n%s", err, ee.Stderr)
				}
				t.Fatal(err)
			}
			req, err := requestFromArgs(args)
			if err != nil {
				t.Fatal(err)
			}
			res, err := Resolve(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			want := strings.TrimSpace(string(out))
			got := lines(res.Packages)
			if got != want {
				t.Errorf("differs from apt:\n%s", lineDiff(want, got))
			}
			t.Logf("%d packages", len(res.Packages))
		})
	}
}

// requestFromArgs reads the indexes named by resolve-oracle.sh arguments.
func requestFromArgs(args []string) (Request, error) {
	req := Request{Variant: "debootstrap", Architecture: "amd64"}
	comps := []string{"main"}
	var pos []string
	for i := 0; i < len(args); i++ {
		switch a := args[i]; a {
		case "-v", "-a", "-f", "-c", "-i":
			if i+1 >= len(args) {
				return req, os.ErrInvalid
			}
			v := args[i+1]
			i++
			switch a {
			case "-v":
				req.Variant = v
			case "-a":
				req.Architecture = v
			case "-f":
				req.Foreign = strings.Split(v, ",")
			case "-c":
				comps = strings.Split(v, ",")
			case "-i":
				req.Include = strings.Split(v, ",")
			}
		case "-r":
			req.Recommends = true
		default:
			pos = append(pos, a)
		}
	}
	if len(pos) < 2 {
		return req, os.ErrInvalid
	}
	req.Suite = pos[0]
	type src struct{ suite, dir string }
	srcs := []src{{pos[0], pos[1]}}
	for _, s := range pos[2:] {
		if suite, dir, ok := strings.Cut(s, "@"); ok {
			srcs = append(srcs, src{suite, dir})
		} else {
			srcs = append(srcs, src{s, pos[1]})
		}
	}
	for order, s := range srcs {
		dir := filepath.Join(s.dir, "dists", s.suite)
		codename := ""
		for _, name := range []string{"InRelease", "Release"} {
			if b, err := os.ReadFile(filepath.Join(dir, name)); err == nil {
				for _, l := range strings.Split(string(b), "\n") {
					if v, ok := strings.CutPrefix(l, "Codename:"); ok {
						codename = strings.TrimSpace(v)
						break
					}
				}
				break
			}
		}
		for _, c := range comps {
			for _, a := range append([]string{req.Architecture}, req.Foreign...) {
				f, err := os.Open(filepath.Join(dir, c, "binary-"+a, "Packages"))
				if os.IsNotExist(err) {
					continue
				}
				if err != nil {
					return req, err
				}
				idx := &apt.Index{Mirror: "file:" + s.dir, Suite: s.suite, Codename: codename, Component: c, Architecture: a, Order: order}
				pkgs, err := apt.ParsePackages(bufio.NewReader(f), idx)
				f.Close()
				if err != nil {
					return req, err
				}
				req.Packages = append(req.Packages, pkgs...)
			}
		}
	}
	return req, nil
}

func lineDiff(want, got string) string {
	w, g := map[string]bool{}, map[string]bool{}
	for _, l := range strings.Split(want, "\n") {
		w[l] = true
	}
	for _, l := range strings.Split(got, "\n") {
		g[l] = true
	}
	var b strings.Builder
	for _, l := range strings.Split(want, "\n") {
		if !g[l] {
			b.WriteString("- " + l + "\n")
		}
	}
	for _, l := range strings.Split(got, "\n") {
		if !w[l] {
			b.WriteString("+ " + l + "\n")
		}
	}
	return b.String()
}
