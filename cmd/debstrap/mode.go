package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"

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
func configurer(mode, arch string, log *slog.Logger, w io.Writer) (bootstrap.Configurer, error) {
	if arch == "" {
		arch = bootstrap.HostArchitecture()
	}
	if mode == "native" {
		return nativeStep{log: log}, nil
	}
	c, err := configure.Pick(configure.Mode(mode), arch)
	if err != nil {
		if mode == "auto" {
			log.Warn("maintainer scripts cannot be run here; configuring natively (--mode=native)", "reason", err)
			return nativeStep{log: log}, nil
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
type nativeStep struct{ log *slog.Logger }

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
	})
	if err != nil {
		return err
	}
	if w := rep.Warning(); w != "" {
		s.log.Warn(w)
	}
	return nil
}
