package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/debstrap/debstrap/bootstrap"
	"github.com/debstrap/debstrap/configure"
	"github.com/debstrap/debstrap/rootfs"
)

var modes = []string{"auto", "root", "unshare", "extract"}

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
func configurer(mode, arch string, log *slog.Logger, w io.Writer) (bootstrap.Configurer, error) {
	if arch == "" {
		arch = bootstrap.HostArchitecture()
	}
	c, err := configure.Pick(configure.Mode(mode), arch)
	if err != nil {
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
		Stdout: s.w, Stderr: s.w,
	})
}
