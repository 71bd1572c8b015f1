// Command debstrap builds Debian and Ubuntu root filesystems and images
// without root, without dpkg or apt on the host.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
)

const usage = `debstrap builds Debian and Ubuntu root filesystems and images, as an
ordinary user, reproducibly, without dpkg or apt on the host.

Usage:
  debstrap build    [flags] SUITE TARGET [MIRROR...]   build an image (TARGET docker://… pushes it)
  debstrap push     [flags] IMAGE REF                  push an image built before to a registry
  debstrap resolve  [flags] SUITE [MIRROR...]          print the package set
  debstrap lock     [flags] SUITE LOCKFILE [MIRROR...] write the set to a lock file
  debstrap download [flags] SUITE DIR [MIRROR...]      fetch the package set's .debs
  debstrap mirror   [flags] SUITE DIR [MIRROR...]      write a partial, still-signed mirror
  debstrap diff     [flags] A B                        compare two images (dir, tar, OCI, squashfs, ext4)
  debstrap manifest IMAGE                              list an image's paths, owners, hashes
  debstrap sbom     [flags] IMAGE                      write an image's SBOM (SPDX, CycloneDX)
  debstrap version

MIRROR is a URL (http, https, file), a one-line "deb URL SUITE COMPONENT..."
entry, or a sources file (.list or deb822 .sources); give several for a suite
plus its -updates and security archives. Without one, $DEBSTRAP_MIRROR is
used, else the host's own apt source for the suite's distribution.

Examples:
  debstrap resolve --variant=minbase bookworm
  debstrap resolve --include=curl,ca-certificates bookworm http://MIRROR/debian
  debstrap resolve --components=main,universe noble \
      "deb http://MIRROR/ubuntu noble main universe" \
      "deb http://MIRROR/ubuntu noble-updates main universe"
  debstrap download --variant=minbase bookworm ./debs
  debstrap build --platforms=amd64,arm64 bookworm docker://localhost:5000/debian:bookworm

Run 'debstrap COMMAND --help' or 'debstrap help COMMAND' for a command's flags.
`

func main() {
	ctx, stop := signalContext(context.Background())
	stopProfile := startProfile(os.Getenv("DEBSTRAP_CPUPROFILE"), os.Stderr)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stopProfile()
	stop()
	os.Exit(code)
}

// signalError is the cause of a context cancelled by a signal.
type signalError struct{ sig syscall.Signal }

func (e signalError) Error() string {
	if e.sig == syscall.SIGINT {
		return "interrupted (SIGINT)"
	}
	return "terminated by " + signalName(e.sig)
}

func signalName(s syscall.Signal) string {
	switch s {
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGHUP:
		return "SIGHUP"
	}
	return s.String()
}

// code is the shell's status for death by the signal: 128+n.
func (e signalError) code() int { return 128 + int(e.sig) }

// signalContext is cancelled, with a signalError cause, by the first
// SIGINT, SIGTERM or SIGHUP; the build then cleans up and run returns
// 128+n. A second signal exits at once: what is left behind, the next
// build removes.
func signalContext(parent context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(parent)
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		first := true
		for s := range ch {
			sig := s.(syscall.Signal)
			if !first {
				fmt.Fprintf(os.Stderr, "debstrap: %s again; exiting without cleanup\n", signalName(sig))
				os.Exit(signalError{sig}.code())
			}
			first = false
			cancel(signalError{sig})
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		cancel(nil)
	}
}

// startProfile writes a CPU profile of the whole command to path, for
// "go tool pprof"; an empty path profiles nothing.
func startProfile(path string, stderr io.Writer) (stop func()) {
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintf(stderr, "debstrap: DEBSTRAP_CPUPROFILE: %v\n", err)
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

// run is main without the process: it returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	var err error
	switch cmd {
	case "resolve":
		err = runResolve(ctx, rest, stdout, stderr)
	case "download":
		err = runDownload(ctx, rest, stdout, stderr)
	case "build":
		err = runBuild(ctx, rest, stdout, stderr)
	case "lock":
		err = runLock(ctx, rest, stdout, stderr)
	case "diff":
		err = runDiff(ctx, rest, stdout, stderr)
	case "manifest":
		err = runManifest(ctx, rest, stdout, stderr)
	case "sbom":
		err = runSBOM(ctx, rest, stdout, stderr)
	case "mirror":
		err = runMirror(ctx, rest, stdout, stderr)
	case "push":
		err = runPush(ctx, rest, stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "debstrap", version())
		return 0
	case "help", "-h", "--help":
		if len(rest) > 0 && cmd == "help" {
			// debstrap help SUBCMD is SUBCMD --help.
			switch rest[0] {
			case "resolve", "download", "build", "lock", "diff", "manifest", "sbom", "mirror", "push":
				return run(ctx, []string{rest[0], "--help"}, stdout, stderr)
			case "version", "help":
				fmt.Fprint(stdout, usage)
				return 0
			}
			fmt.Fprintf(stderr, "debstrap help: unknown command %q; see 'debstrap --help'\n", rest[0])
			return 2
		}
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "debstrap: unknown command %q; see 'debstrap --help'\n", cmd)
		return 2
	}
	var ue usageError
	var es exitStatus
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "debstrap %s: %v; see 'debstrap %s --help'\n", cmd, err, cmd)
		return 2
	case ctx.Err() != nil:
		var se signalError
		if errors.As(context.Cause(ctx), &se) {
			fmt.Fprintf(stderr, "debstrap %s: %v\n", cmd, se)
			return se.code()
		}
		fmt.Fprintf(stderr, "debstrap %s: interrupted\n", cmd)
		return 130
	case errors.As(err, &es):
		if es.err != nil {
			fmt.Fprintf(stderr, "debstrap %s: %v\n", cmd, es.err)
		}
		return es.code
	default:
		fmt.Fprintf(stderr, "debstrap %s: %v\n", cmd, err)
		return 1
	}
}
