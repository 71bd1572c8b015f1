// Command resolvedump runs resolve.Resolve on a local archive tree and
// prints "name version arch" per package, sorted — the same input and
// output as e2e/resolve-oracle.sh, so the two can be compared with diff:
//
//	go run ./resolve/internal/resolvedump [-v VARIANT] [-a ARCH] [-f FOREIGN,...]
//	    [-c COMP,...] [-i PKG,...] [-r] SUITE MIRRORDIR [SUITE[@MIRRORDIR]...]
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/debstrap/debstrap/apt"
	"github.com/debstrap/debstrap/resolve"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "resolvedump:", err)
		os.Exit(1)
	}
}

func run() error {
	variant := flag.String("v", "debootstrap", "variant")
	arch := flag.String("a", "amd64", "native architecture")
	foreign := flag.String("f", "", "foreign architectures, comma-separated")
	comps := flag.String("c", "main", "components, comma-separated")
	include := flag.String("i", "", "packages to include, comma-separated")
	recommends := flag.Bool("r", false, "install Recommends")
	debug := flag.Bool("debug", false, "print marking trace to stderr")
	flag.Parse()
	args := flag.Args()
	if len(args) < 2 {
		return fmt.Errorf("usage: resolvedump [flags] SUITE MIRRORDIR [SUITE[@DIR]...]")
	}
	mirror := args[0+1]
	type src struct{ suite, dir string }
	srcs := []src{{args[0], mirror}}
	for _, s := range args[2:] {
		if i := strings.IndexByte(s, '@'); i >= 0 {
			srcs = append(srcs, src{s[:i], s[i+1:]})
		} else {
			srcs = append(srcs, src{s, mirror})
		}
	}
	var foreigns []string
	if *foreign != "" {
		foreigns = strings.Split(*foreign, ",")
	}
	var all []*apt.Package
	for order, s := range srcs {
		codename, err := codenameOf(filepath.Join(s.dir, "dists", s.suite))
		if err != nil {
			return err
		}
		for _, c := range strings.Split(*comps, ",") {
			for _, a := range append([]string{*arch}, foreigns...) {
				path := filepath.Join(s.dir, "dists", s.suite, c, "binary-"+a, "Packages")
				f, err := os.Open(path)
				if os.IsNotExist(err) {
					continue
				}
				if err != nil {
					return err
				}
				idx := &apt.Index{Mirror: "file:" + s.dir, Suite: s.suite, Codename: codename, Component: c, Architecture: a, Order: order}
				pkgs, err := apt.ParsePackages(bufio.NewReader(f), idx)
				f.Close()
				if err != nil {
					return fmt.Errorf("%s: %w", path, err)
				}
				all = append(all, pkgs...)
			}
		}
	}
	req := resolve.Request{
		Packages:     all,
		Variant:      *variant,
		Architecture: *arch,
		Foreign:      foreigns,
		Recommends:   *recommends,
		Suite:        args[0],
	}
	if *include != "" {
		req.Include = strings.Split(*include, ",")
	}
	if *debug {
		req.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	res, err := resolve.Resolve(context.Background(), req)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(os.Stdout)
	for _, p := range res.Packages {
		fmt.Fprintf(w, "%s %s %s\n", p.Name, p.Version, p.Architecture)
	}
	return w.Flush()
}

// codenameOf reads the Codename field of DIR/InRelease or DIR/Release.
func codenameOf(dir string) (string, error) {
	for _, name := range []string{"InRelease", "Release"} {
		f, err := os.Open(filepath.Join(dir, name))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return "", err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "Codename:"); ok {
				return strings.TrimSpace(v), nil
			}
		}
		return "", sc.Err()
	}
	return "", fmt.Errorf("no InRelease or Release in %s", dir)
}
