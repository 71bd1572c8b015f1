package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/debstrap/debstrap/bootstrap"
	"github.com/debstrap/debstrap/configure"
	"github.com/debstrap/debstrap/native"
	"github.com/debstrap/debstrap/rootfs"
)

var modes = []string{"auto", "root", "unshare", "native", "extract"}

// checkMode rejects an unknown --mode before anything is fetched.
func checkMode(mode string) error {
	for _, m := range modes {
		if m == mode {
			return nil
		}
	}
	return fmt.Errorf("--mode=%s: unknown mode (want one of %v)", mode, modes)
}

// configurer picks the configure step for --mode and the native
// architecture; scripts' output goes to w (nil: kept for error messages).
// auto falls back to native when neither root nor a user namespace can run
// the scripts, or the host cannot run the architecture's binaries.
func configurer(mode, arch string, log *slog.Logger, w io.Writer, lim native.Limits) (bootstrap.Configurer, error) {
	if arch == "" {
		arch = bootstrap.HostArchitecture()
	}
	if mode == "native" {
		return nativeStep{log: log, lim: lim}, nil
	}
	c, err := configure.Pick(configure.Mode(mode), arch)
	if err != nil {
		if mode == "auto" {
			log.Warn("maintainer scripts cannot be run here; configuring natively (--mode=native)", "reason", err)
			return nativeStep{log: log, lim: lim}, nil
		}
		return nil, err
	}
	return configureStep{c: c, log: log, w: w}, nil
}

// configureStep adapts a configure.Configurer to the pipeline.
type configureStep struct {
	c   configure.Configurer
	log *slog.Logger
	w   io.Writer
}

func (s configureStep) Name() string { return s.c.Name() }

func (s configureStep) Configure(ctx context.Context, st *rootfs.Stage, b *bootstrap.Build) error {
	order := make([]string, len(b.Order))
	for i, p := range b.Order {
		order[i] = p.Name
	}
	return s.c.Configure(ctx, st, configure.Options{
		Logger: s.log, Arch: b.Plan.Architecture, Order: order, Epoch: b.Epoch,
		Stdout: s.w, Stderr: s.w, Step: b.Step,
		// Beside the staging root: removed with it.
		TempDir: filepath.Dir(b.StageDir),
	})
}

// nativeStep configures in Go, running nothing from the image.
type nativeStep struct {
	log *slog.Logger
	lim native.Limits
}

func (nativeStep) Name() string { return "native" }

func (s nativeStep) Configure(ctx context.Context, st *rootfs.Stage, b *bootstrap.Build) error {
	pkgs := make([]native.Pkg, len(b.Controls))
	priority := map[string]string{}
	for i, c := range b.Controls {
		pkgs[i] = native.Pkg{Control: c}
	}
	for _, p := range b.Plan.Packages {
		priority[p.Name] = p.Priority
	}
	rep, err := native.Configure(ctx, st, b.DB, pkgs, native.Options{
		Arch:   b.Plan.Architecture,
		Epoch:  b.Epoch,
		Manual: native.ManualPackages(b.Variant, b.Include, pkgs, priority),
		Logger: s.log,
		Limits: s.lim,
	})
	if err != nil {
		return err
	}
	if w := rep.Warning(); w != "" {
		s.log.Warn(w)
	}
	return nil
}

// nativeFlags bound each maintainer script native mode interprets.
type nativeFlags struct {
	timeout                time.Duration
	memory, output, writes sizeFlag
}

func (n *nativeFlags) register(fs *flag.FlagSet) {
	d := native.DefaultLimits
	n.timeout = d.Timeout
	n.memory, n.output, n.writes = sizeFlag(d.Memory), sizeFlag(d.Output), sizeFlag(d.Writes)
	fs.DurationVar(&n.timeout, "native-script-timeout", n.timeout, "native mode: wall-clock time one maintainer script may take")
	fs.Var(&n.memory, "native-script-memory", "native mode: memory one maintainer script may take (bytes, or with K, M, G)")
	fs.Var(&n.output, "native-script-output", "native mode: output one maintainer script may print (bytes, or with K, M, G)")
	fs.Var(&n.writes, "native-script-writes", "native mode: bytes one maintainer script may write into the root's files (or with K, M, G)")
}

func (n *nativeFlags) limits() native.Limits {
	return native.Limits{Timeout: n.timeout, Memory: int64(n.memory), Output: int64(n.output), Writes: int64(n.writes)}
}

// sizeFlag is a positive byte count: 4096, 64K, 512M, 1G (powers of 1024).
type sizeFlag int64

func (f *sizeFlag) String() string { return strconv.FormatInt(int64(*f), 10) }

func (f *sizeFlag) Set(s string) error {
	mult := int64(1)
	num := strings.TrimSuffix(strings.ToUpper(s), "B")
	if i := strings.IndexAny(num, "KMG"); i >= 0 && i == len(num)-1 {
		mult = map[byte]int64{'K': 1 << 10, 'M': 1 << 20, 'G': 1 << 30}[num[i]]
		num = num[:i]
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 || n > math.MaxInt64/mult {
		return fmt.Errorf("want a positive size in bytes, or with K, M or G")
	}
	*f = sizeFlag(n * mult)
	return nil
}
