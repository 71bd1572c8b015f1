//go:build !linux

package configure

import (
	"context"
	"errors"
	"os"

	"github.com/debstrap/debstrap/rootfs"
)

// HelperCommand is the hidden command of the root and unshare modes (Linux only).
const HelperCommand = "__configure-helper"

var errNotLinux = errors.New("running maintainer scripts needs Linux; use --mode=extract")

// Helper is the entry point of HelperCommand (Linux only).
func Helper(args []string) int { return 2 }

func configureExec(ctx context.Context, st *rootfs.Stage, opts Options, userns bool) error {
	return errNotLinux
}

// RunHook runs a hook as root of the build (Linux only).
func RunHook(ctx context.Context, st *rootfs.Stage, opts Options, userns bool, hook string, env []string) error {
	return errNotLinux
}

func probeUserNamespace() (bool, error) { return false, errNotLinux }

// RemoveTree removes dir as the builder can (no user namespaces here).
func RemoveTree(ctx context.Context, dir string) error { return os.RemoveAll(dir) }
