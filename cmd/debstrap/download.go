package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/debstrap/debstrap/bootstrap"
	"github.com/debstrap/debstrap/cache"
	"github.com/debstrap/debstrap/internal/progress"
	"github.com/debstrap/debstrap/spec"
)

const downloadHelp = `Usage: debstrap download [flags] SUITE DIR [MIRROR...]

Resolves SUITE like 'debstrap resolve' and puts the verified .debs into DIR
under apt's file names (name_version_arch.deb). The files come from the
download cache, which keeps them for the next build.

Example:
  debstrap download --variant=minbase bookworm ./debs
`

func runDownload(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("download", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c common
	c.register(fs)
	pos, err := parse(fs, args, nil, downloadHelp, stdout)
	if err != nil {
		return err
	}
	sp, err := c.loadSpec(fs)
	if err != nil {
		return err
	}
	if pos, err = arguments(sp, pos, []string{"SUITE", "DIR"}, []string{spec.KeySuite, ""}, true); err != nil {
		return err
	}
	log := c.logger(stderr)
	ch, err := c.cache(stderr, log)
	if err != nil {
		return err
	}
	plan, err := bootstrap.Resolve(ctx, ch, c.config(pos[0], pos[2:], log))
	if err != nil {
		return err
	}
	return downloadTo(ctx, ch, c.bar, plan, pos[1], log)
}

// downloadTo fetches the plan's .debs into the cache and links (or copies)
// them into dir.
func downloadTo(ctx context.Context, ch *cache.Cache, bar *progress.Bar, plan *bootstrap.Plan, dir string, log *slog.Logger) error {
	start := time.Now()
	items := plan.Items()
	paths, err := ch.FetchAll(ctx, items)
	bar.Finish()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for i, p := range paths {
		dst := filepath.Join(dir, items[i].Name)
		if err := linkOrCopy(p, dst); err != nil {
			return fmt.Errorf("placing %s: %w", dst, err)
		}
	}
	log.Info("downloaded", "packages", len(items), "size", bootstrap.HumanBytes(plan.DownloadSize()),
		"dir", dir, "time", time.Since(start).Round(time.Millisecond))
	return nil
}

// linkOrCopy places src at dst through a temp name, so dst is whole or absent.
func linkOrCopy(src, dst string) error {
	// Already linked by an earlier run: renaming a second link of the same
	// file over it would do nothing and leave the temp name behind.
	if si, err := os.Stat(src); err == nil {
		if di, err := os.Lstat(dst); err == nil && os.SameFile(si, di) {
			return nil
		}
	}
	tmp := dst + ".tmp"
	os.Remove(tmp)
	if err := os.Link(src, tmp); err != nil {
		in, err := os.Open(src)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			os.Remove(tmp)
			return err
		}
		if err := out.Close(); err != nil {
			os.Remove(tmp)
			return err
		}
	}
	return os.Rename(tmp, dst)
}
