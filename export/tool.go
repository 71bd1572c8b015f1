package export

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/debstrap/debstrap/internal/tmplock"
)

// The squashfs and ext4 formats are written by the host's own tools, the
// ones mmdebstrap uses, fed from the metadata table (a tar stream, or
// debugfs commands), never from the staging directory's owners.

// hostTool is a program an image format needs and the Debian package that
// ships it.
type hostTool struct{ name, pkg string }

var (
	toolTar2sqfs = hostTool{"tar2sqfs", "squashfs-tools-ng"}
	toolMke2fs   = hostTool{"mke2fs", "e2fsprogs"}
	toolDebugfs  = hostTool{"debugfs", "e2fsprogs"}
	toolE2fsck   = hostTool{"e2fsck", "e2fsprogs"}
)

// formatTools are the programs each format needs.
var formatTools = map[Format][]hostTool{
	FormatSquashfs: {toolTar2sqfs},
	FormatExt4:     {toolMke2fs, toolDebugfs, toolE2fsck},
}

// sbinDirs are searched after PATH: e2fsprogs installs in /usr/sbin (or
// /sbin), which an ordinary user's PATH often leaves out.
var sbinDirs = []string{"/usr/sbin", "/sbin"}

// lookTool finds a host tool, or says which package to install.
func lookTool(format Format, t hostTool) (string, error) {
	if p, err := exec.LookPath(t.name); err == nil {
		return p, nil
	}
	for _, d := range sbinDirs {
		p := filepath.Join(d, t.name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("the %s format needs %s, which is not installed (not in PATH, %s): install the Debian package %s", format, t.name, strings.Join(sbinDirs, ", "), t.pkg)
}

// checkTools finds every tool format needs, before a build spends minutes.
func checkTools(format Format) error {
	for _, t := range formatTools[format] {
		if _, err := lookTool(format, t); err != nil {
			return err
		}
	}
	return nil
}

// tailBuffer keeps the last bytes written to it: a tool's stderr, for the
// error message, without holding an unbounded amount.
type tailBuffer struct {
	b       []byte
	dropped bool
}

const tailMax = 8 << 10

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > tailMax {
		t.b = append(t.b[:0], t.b[len(t.b)-tailMax:]...)
		t.dropped = true
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	s := strings.TrimSpace(string(t.b))
	if t.dropped {
		s = "…" + s
	}
	return s
}

// toolError describes a tool that failed, with what it said.
func toolError(name string, err error, stderr string) error {
	if stderr == "" {
		return fmt.Errorf("%s: %w", name, err)
	}
	return fmt.Errorf("%s: %w: %s", name, err, stderr)
}

// toolOutput is the file a host tool writes an image into: the output's
// own temporary when the target is renamed into place; else (standard
// output, a FIFO, a device) a scratch file, copied to the target once
// whole, since the tools need a regular file they can seek in.
type toolOutput struct {
	out     *output
	path    string        // the file the tool writes
	scratch *os.File      // the scratch file, or nil
	lock    *tmplock.Lock // the scratch file's mark
}

func openToolOutput(ctx context.Context, target string, stdout io.Writer) (*toolOutput, error) {
	o, err := openOutput(ctx, target, stdout)
	if err != nil {
		return nil, err
	}
	t := &toolOutput{out: o}
	if o.f != nil && o.t.kind != kindThrough {
		t.path = o.f.Name()
		return t, nil
	}
	dir, pattern := o.t.scratch()
	f, l, err := tmplock.CreateTemp(dir, pattern)
	if err != nil {
		o.abort()
		return nil, fmt.Errorf("create temporary file: %w", err)
	}
	t.path, t.scratch, t.lock = f.Name(), f, l
	return t, nil
}

// finish hashes the image the tool wrote and puts it in place.
func (t *toolOutput) finish(ctx context.Context) (string, error) {
	f, err := os.Open(t.path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	var w io.Writer = h
	if t.scratch != nil {
		w = io.MultiWriter(h, t.out)
	}
	if err := pipe(ctx, f, w); err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", fmt.Errorf("write %s: %w", t.out.name(), err)
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if err := t.out.commit(); err != nil {
		return "", err
	}
	t.out = nil
	t.abort() // the scratch file, if any
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// abort removes what is not yet committed.
func (t *toolOutput) abort() {
	if t.out != nil {
		t.out.abort()
		t.out = nil
	}
	if t.scratch != nil {
		t.scratch.Close()
		os.Remove(t.scratch.Name())
		t.lock.Release()
		t.scratch = nil
	}
}

// runTool runs a tool to completion; stdin may be nil. Its stderr, and its
// stdout if withStdout (where e2fsck reports), is kept for the error
// message.
func runTool(ctx context.Context, bin string, args []string, env []string, stdin io.Reader, extra []*os.File, withStdout bool) (stderr string, err error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	cmd.Stdin = stdin
	cmd.ExtraFiles = extra
	var errBuf tailBuffer
	cmd.Stderr = &errBuf
	if withStdout {
		cmd.Stdout = &errBuf
	}
	err = cmd.Run()
	if ctx.Err() != nil {
		return errBuf.String(), ctx.Err()
	}
	if err != nil {
		return errBuf.String(), toolError(filepath.Base(bin), err, errBuf.String())
	}
	return errBuf.String(), nil
}

// isPipeErr tells a write that failed because the reading tool is gone.
func isPipeErr(err error) bool {
	return errors.Is(err, os.ErrClosed) || errors.Is(err, io.ErrClosedPipe) || strings.Contains(err.Error(), "broken pipe")
}

// toolEnv is the environment of a tool: the process's, with the
// variables that make its output reproducible.
func toolEnv(set ...string) []string {
	env := os.Environ()
	out := env[:0:0]
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		drop := false
		for _, s := range set {
			if sk, _, _ := strings.Cut(s, "="); sk == k {
				drop = true
			}
		}
		if !drop {
			out = append(out, kv)
		}
	}
	return append(out, set...)
}

// ToolVersion names the host tools format is written with and their
// versions ("" for a format written in Go): the bytes of a squashfs or
// ext4 image depend on them, so a kept output's key includes it.
func ToolVersion(format Format) (string, error) {
	var out []string
	for _, t := range formatTools[format] {
		bin, err := lookTool(format, t)
		if err != nil {
			return "", err
		}
		// mke2fs, debugfs and e2fsck print "NAME 1.47.0 (5-Feb-2023)"
		// for -V, on stderr; tar2sqfs its version on stdout.
		flag := "-V"
		if t == toolTar2sqfs {
			flag = "--version"
		}
		b, err := exec.Command(bin, flag).CombinedOutput()
		if err != nil {
			return "", toolError(t.name, err, strings.TrimSpace(string(b)))
		}
		first, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
		out = append(out, first)
	}
	return strings.Join(out, "; "), nil
}
