package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/debstrap/debstrap/manifest"
)

const diffHelp = `Usage: debstrap diff [flags] A B

Compares two images path by path and prints each difference as
"CATEGORY PATH: A-VALUE → B-VALUE", sorted by path, then a count per
category. An image is a directory, a tarball (plain, .gz, .xz, .zst, .bz2),
an OCI layout directory, an OCI archive, a docker-archive, a squashfs image
(read with sqfs2tar, from squashfs-tools-ng), an ext2/3/4 image (whose
empty lost+found, mke2fs's, is left out), or a manifest saved by 'debstrap
manifest'. Mtimes and user/group names are not compared.

Categories: only-in-a, only-in-b, type, mode, owner, content, link (symlink
target), device, xattr, hardlink (which paths share an inode).

Exit status: 0 if the images are the same, 1 if they differ, 2 on error.

Examples:
  debstrap diff mmdebstrap.tar debstrap.tar
  debstrap diff --ignore '/var/log/*' --ignore /etc/machine-id a.tar.zst b.oci
  debstrap diff --summary --ignore-category=owner ./rootdir image.tar
  debstrap diff bookworm.tar bookworm.ext4
`

const manifestHelp = `Usage: debstrap manifest IMAGE

Prints the manifest of an image, one line per path, sorted:
  PATH TYPE MODE UID:GID [SIZE SHA256 | MAJOR,MINOR | -> TARGET] [hardlink=PATH] [xattr.NAME=HEX]...
IMAGE is a directory, a tarball, an OCI layout, an OCI archive, a
docker-archive, a squashfs image or an ext2/3/4 image. Saved to a file,
the manifest can stand for the image in 'debstrap diff'.

Examples:
  debstrap manifest bookworm.tar.zst > bookworm.manifest
  debstrap diff bookworm.manifest rebuilt.tar.zst
`

// exitStatus is an error that sets the exit status itself: diff exits 1
// when the images differ and 2 on error, as diff(1) does. err, if not
// nil, is printed.
type exitStatus struct {
	code int
	err  error
}

func (e exitStatus) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e exitStatus) Unwrap() error { return e.err }

// globsFlag collects repeated values as given: globs may hold commas.
type globsFlag []string

func (g *globsFlag) String() string     { return strings.Join(*g, " ") }
func (g *globsFlag) Set(s string) error { *g = append(*g, s); return nil }

func runDiff(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("diff", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var ignore globsFlag
	var categories listFlag
	fs.Var(&ignore, "ignore", "leave out paths matching this glob and what is under them (repeatable), e.g. '/var/log/*'")
	ignoreFile := fs.String("ignore-file", "", "read more --ignore globs from this file, one a line (# starts a comment)")
	fs.Var(&categories, "ignore-category", "do not report these categories (comma-separated; repeatable), e.g. owner")
	summary := fs.Bool("summary", false, "print only the count per category")
	pos, err := parse(fs, args, []string{"A", "B"}, diffHelp, stdout)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usageError{fmt.Errorf("want 2 images, got %d", len(pos))}
	}
	if *ignoreFile != "" {
		more, err := readGlobs(*ignoreFile)
		if err != nil {
			return exitStatus{2, err}
		}
		ignore = append(ignore, more...)
	}
	opts := manifest.DiffOptions{Ignore: ignore, IgnoreCategories: categories}
	if err := opts.Check(); err != nil {
		return usageError{err} // before reading anything
	}

	var a, b *manifest.Manifest
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) { a, err = manifest.Read(gctx, pos[0]); return err })
	g.Go(func() (err error) { b, err = manifest.Read(gctx, pos[1]); return err })
	if err := g.Wait(); err != nil {
		return exitStatus{2, err}
	}
	diffs, err := manifest.Diff(a, b, opts)
	if err != nil {
		return exitStatus{2, err}
	}

	w := bufio.NewWriter(stdout)
	if !*summary {
		for _, d := range diffs {
			fmt.Fprintln(w, d)
		}
	}
	if len(diffs) > 0 || *summary {
		counts := manifest.Summarize(diffs)
		if !*summary {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%d differences\n", len(diffs))
		for _, c := range manifest.Categories {
			if counts[c] > 0 {
				fmt.Fprintf(w, "  %-10s %d\n", c, counts[c])
			}
		}
	}
	if err := w.Flush(); err != nil {
		return exitStatus{2, err}
	}
	if len(diffs) > 0 {
		return exitStatus{code: 1}
	}
	return nil
}

// readGlobs reads an ignore file: one glob a line, blank lines and lines
// starting with # skipped.
func readGlobs(name string) ([]string, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("ignore file: %w", err)
	}
	var globs []string
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			globs = append(globs, line)
		}
	}
	return globs, nil
}

func runManifest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("manifest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	pos, err := parse(fs, args, []string{"IMAGE"}, manifestHelp, stdout)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{fmt.Errorf("want 1 image, got %d", len(pos))}
	}
	m, err := manifest.Read(ctx, pos[0])
	if err != nil {
		return err
	}
	_, err = m.WriteTo(stdout)
	return err
}
