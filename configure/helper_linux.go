package configure

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// HelperCommand is the hidden debstrap command the root and unshare modes
// re-execute debstrap with (os.Executable()), in new namespaces. The
// program's main must hand os.Args[2:] to Helper, before anything else,
// when os.Args[1] is HelperCommand.
const HelperCommand = "__configure-helper"

// File descriptors the parent passes (ExtraFiles).
const (
	fdLog      = 3 // JSON log records, relayed into the parent's logger
	fdLifeline = 4 // EOF once the parent is gone; in the "wait" step first one go-ahead byte
)

// Helper runs one step of the configure helper and returns the exit
// status:
//
//	wait STEP ARGS…  wait for the id maps, then re-execute as STEP
//	probe single|range  check that we are root in a working namespace
//	run JOB          materialize, run the second stage, rescan, restore
func Helper(args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "debstrap: the configure helper is internal")
		return 2
	}
	if args[0] == "wait" {
		return helperWait(args[1:])
	}
	if args[0] == "enter" {
		return helperEnter(args[1:])
	}
	// Again after the re-execution as root of a user namespace, which
	// clears the parent-death signal runHelper set.
	unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0, 0, 0)
	watchParent()
	var log *slog.Logger
	if _, err := unix.FcntlInt(fdLog, unix.F_GETFD, 0); err == nil {
		// Keep the log pipe from dpkg and the daemons it might start.
		syscall.CloseOnExec(fdLog)
		log = slog.New(slog.NewJSONHandler(os.NewFile(fdLog, "log"), &slog.HandlerOptions{Level: slog.LevelDebug}))
	} else {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	var err error
	switch {
	case args[0] == "probe" && len(args) == 2:
		err = helperProbe(args[1] == "range")
	case args[0] == "run" && len(args) == 2:
		err = helperRun(args[1], log)
	case args[0] == "remove" && len(args) == 2:
		if err = setupProcess(); err == nil {
			err = removeTree(args[1])
		}
	default:
		err = fmt.Errorf("bad arguments %q", args)
	}
	if errors.Is(err, errReported) {
		return 1
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "debstrap configure helper: %v\n", err)
		return 1
	}
	return 0
}

// errReported: the error went into the result file.
var errReported = errors.New("reported in the result")

// helperWait is the first step in a user namespace whose maps the parent
// writes with newuidmap: until then we are nobody without capabilities.
// Once mapped, executing ourselves again as uid 0 gives us the full
// capability set of the namespace.
func helperWait(args []string) int {
	// A raw read: the lifeline must stay open across the exec below.
	var b [1]byte
	if n, _ := unix.Read(fdLifeline, b[:]); n != 1 {
		return 1 // the parent gave up, or died
	}
	if os.Getuid() != 0 {
		fmt.Fprintf(os.Stderr, "debstrap configure helper: uid %d after the id maps were written, want 0\n", os.Getuid())
		return 1
	}
	exe, err := os.Executable()
	if err == nil {
		err = syscall.Exec("/proc/self/exe", append([]string{os.Args[0], HelperCommand}, args...), os.Environ())
	}
	fmt.Fprintf(os.Stderr, "debstrap configure helper: re-executing %s: %v\n", exe, err)
	return 1
}

// watchParent ends the helper, and so (as PID 1 of its namespace) every
// process it started, as soon as the parent's end of the lifeline closes:
// the parent died, even between a re-execution and the Pdeathsig re-armed
// after it. Without a lifeline (run by hand) it does nothing.
func watchParent() {
	if _, err := unix.FcntlInt(fdLifeline, unix.F_GETFD, 0); err != nil {
		return
	}
	syscall.CloseOnExec(fdLifeline) // not for dpkg and the scripts
	go func() {
		var b [16]byte
		for {
			n, err := unix.Read(fdLifeline, b[:])
			if err == unix.EINTR {
				continue
			}
			if n <= 0 {
				break
			}
		}
		fmt.Fprintln(os.Stderr, "debstrap configure helper: debstrap is gone; stopping")
		if os.Getpid() == 1 {
			unix.Kill(-1, syscall.SIGKILL)
		}
		os.Exit(1)
	}()
}

// helperEnter is the scripts' side of runScript: enter ROOT PROGRAM
// ARGS… makes ROOT our root (enterRoot) and executes PROGRAM of the root
// in our place, with our environment.
func helperEnter(args []string) int {
	if len(args) < 2 {
		fmt.Fprintln(os.Stderr, "debstrap configure helper: enter ROOT PROGRAM ARGS…")
		return 2
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	err := enterRoot(args[0], log)
	if err == nil {
		err = syscall.Exec(args[1], args[1:], os.Environ())
	}
	fmt.Fprintf(os.Stderr, "debstrap configure helper: entering %s: %v\n", args[0], err)
	return 1
}

// setupProcess makes the helper root of a private world: root ids, no
// supplementary groups, mounts that propagate nowhere, umask 022.
func setupProcess() error {
	// Started by runHelper we are PID 1 of a new PID namespace, in a new
	// mount namespace. Anywhere else the mounts below would change the
	// host's.
	if os.Getpid() != 1 {
		return errors.New("not in namespaces of its own; this command is only for debstrap itself")
	}
	if os.Getuid() != 0 {
		return fmt.Errorf("not root in the namespace (uid %d)", os.Getuid())
	}
	syscall.Setgroups(nil) // fails where setgroups is denied (own id only); harmless
	syscall.Umask(0o022)
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making mounts private: %w", err)
	}
	return nil
}

func helperProbe(wantRange bool) error {
	if err := setupProcess(); err != nil {
		return err
	}
	dir := os.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=64k"); err != nil {
		return fmt.Errorf("mounting a tmpfs: %w", err)
	}
	defer unix.Unmount(dir, unix.MNT_DETACH)
	if wantRange {
		f := filepath.Join(dir, "probe")
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			return err
		}
		if err := os.Lchown(f, 1, 1); err != nil {
			return fmt.Errorf("chown to another id: %w", err)
		}
	}
	return nil
}

func helperRun(jobPath string, log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	data, err := os.ReadFile(jobPath)
	if err != nil {
		return err
	}
	var j job
	if err := json.Unmarshal(data, &j); err != nil {
		return fmt.Errorf("reading %s: %w", jobPath, err)
	}
	var entries []wireEntry
	err = setupProcess()
	if err == nil {
		entries, err = work(ctx, &j, log)
	}
	res := result{Entries: entries}
	if err != nil {
		res = result{Error: err.Error()}
	}
	out, merr := json.Marshal(res)
	if merr != nil {
		return errors.Join(err, merr)
	}
	if werr := os.WriteFile(j.Result, out, 0o600); werr != nil {
		return errors.Join(err, werr)
	}
	if err != nil {
		return errReported
	}
	return nil
}

// removeTree removes dir, making directories writable on the way down
// (a configured root has read-only ones).
func removeTree(dir string) error {
	if err := os.RemoveAll(dir); err == nil {
		return nil
	}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o700)
		}
		return nil
	})
	return os.RemoveAll(dir)
}
