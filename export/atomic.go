package export

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/debstrap/debstrap/internal/tmplock"
	"golang.org/x/sys/unix"
)

// What a target path is decides how the output gets there. The rule: a
// rename replaces only a regular file or a directory debstrap made; what
// is neither (standard output, a FIFO, a character device, a symlink to
// one) is written through, and is never replaced.
type targetKind int

const (
	kindNew      targetKind = iota // nothing there: a temporary renamed into place, replacing nothing
	kindFile                       // a regular file (or a symlink to one): a temporary renamed over it
	kindThrough                    // "-", a FIFO, a character device: opened and written
	kindEmptyDir                   // an existing empty directory: filled through a temporary inside it
)

// target is a resolved TARGET.
type target struct {
	name string // as given, for messages
	path string // what is renamed onto or opened; a symlink's regular file
	kind targetKind
}

// Stdout is the TARGET that names standard output.
const Stdout = "-"

// innerPattern names a temporary inside a directory target.
const innerPattern = ".debstrap.tmp-*"

// tempPattern is the pattern of temporaries next to path: hidden, and
// named after it so a leftover from a crash says what it was.
func tempPattern(path string) (dir, pattern string) {
	path = filepath.Clean(path)
	return filepath.Dir(path), "." + filepath.Base(path) + ".tmp-*"
}

// CheckTarget finds a TARGET that format cannot be written to, before a
// build spends minutes on it: a directory or block device for a file, a
// non-empty directory or a non-directory for a directory, "-" for a
// directory format, a place the user cannot create files in, a host tool
// the format needs that is not installed. The null format takes any
// TARGET: it writes nothing.
func CheckTarget(name string, format Format) error {
	if format == FormatNull {
		return nil // nothing is written
	}
	if format == FormatRegistry {
		_, err := ParseReference(name)
		return err
	}
	if err := checkTools(format); err != nil {
		return err
	}
	if format == FormatDir || format == FormatOCI {
		_, err := resolveDir(name)
		return err
	}
	_, err := resolveFile(name)
	return err
}

// resolveFile judges the target of a file format.
func resolveFile(name string) (target, error) {
	t := target{name: name, path: filepath.Clean(name)}
	if name == Stdout {
		t.kind = kindThrough
		return t, nil
	}
	fi, err := os.Lstat(t.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		t.kind = kindNew
		return t, checkCreate(name, filepath.Dir(t.path))
	case err != nil:
		return t, fmt.Errorf("target %s: %w", name, err)
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		fi, err = os.Stat(t.path)
		if err != nil {
			return t, fmt.Errorf("target %s is a symlink that leads nowhere: %w", name, err)
		}
		if fi.Mode().IsRegular() {
			// Replace the file the link names and keep the link, if the
			// link's text leads there (not a /proc/self/fd magic link).
			if real, err := filepath.EvalSymlinks(t.path); err == nil {
				if rfi, err := os.Lstat(real); err == nil && os.SameFile(fi, rfi) {
					t.path, t.kind = real, kindFile
					return t, checkCreate(name, filepath.Dir(real))
				}
			}
			t.kind = kindThrough
			return t, checkWrite(name, t.path)
		}
	}
	switch m := fi.Mode(); {
	case m.IsRegular():
		t.kind = kindFile
		return t, checkCreate(name, filepath.Dir(t.path))
	case m.IsDir():
		return t, fmt.Errorf("target %s is an existing directory (a file format was asked for)", name)
	case m&fs.ModeNamedPipe != 0, m&fs.ModeCharDevice != 0:
		t.kind = kindThrough
		return t, checkWrite(name, t.path)
	case m&fs.ModeDevice != 0:
		return t, fmt.Errorf("target %s is a block device: refusing to write an image over it", name)
	default:
		return t, fmt.Errorf("target %s is a %v, which cannot take a file", name, m.Type())
	}
}

// resolveDir judges the target of a directory format (dir, oci). An
// existing directory must be empty, as mmdebstrap judges: a full one is
// probably a mistake in the command line.
func resolveDir(name string) (target, error) {
	t := target{name: name, path: filepath.Clean(name)}
	if name == Stdout {
		return t, errors.New(`target "-" (standard output) takes a file format (tar, tar.gz, tar.xz, tar.zst, oci-archive, docker-archive), not a directory`)
	}
	fi, err := os.Lstat(t.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		t.kind = kindNew
		return t, checkCreate(name, filepath.Dir(t.path))
	case err != nil:
		return t, fmt.Errorf("target %s: %w", name, err)
	case fi.Mode()&fs.ModeSymlink != 0:
		return t, fmt.Errorf("target %s is a symlink: name the directory itself", name)
	case !fi.IsDir():
		return t, fmt.Errorf("target %s exists and is not a directory", name)
	}
	names, err := os.ReadDir(t.path)
	if err != nil {
		return t, fmt.Errorf("target %s: %w", name, err)
	}
	if len(names) > 0 {
		return t, fmt.Errorf("target directory %s exists and is not empty", name)
	}
	t.kind = kindEmptyDir
	return t, checkCreate(name, t.path)
}

// checkCreate makes sure new names can be made in dir.
func checkCreate(name, dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("target %s: directory %s: %w", name, dir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("target %s: %s is not a directory", name, dir)
	}
	if err := unix.Access(dir, unix.W_OK|unix.X_OK); err != nil {
		return fmt.Errorf("target %s: cannot create files in %s: %w", name, dir, err)
	}
	return nil
}

func checkWrite(name, path string) error {
	if err := unix.Access(path, unix.W_OK); err != nil {
		return fmt.Errorf("target %s: cannot write to it: %w", name, err)
	}
	return nil
}

// output is where a file format goes: a temporary renamed into place at
// commit, or the target itself, written through.
type output struct {
	t    target
	w    io.Writer
	f    *os.File // the temporary or the opened target; nil for stdout
	lock *tmplock.Lock
}

func (o *output) Write(b []byte) (int, error) { return o.w.Write(b) }

// name is the file being written, for messages.
func (o *output) name() string {
	if o.f == nil {
		return "standard output"
	}
	return o.f.Name()
}

// openOutput opens the output for the file target name; stdout is where
// "-" goes (nil: os.Stdout).
func openOutput(ctx context.Context, name string, stdout io.Writer) (*output, error) {
	t, err := resolveFile(name)
	if err != nil {
		return nil, err
	}
	o := &output{t: t}
	switch {
	case name == Stdout:
		o.w = stdout
		if o.w == nil {
			o.w = os.Stdout
		}
	case t.kind == kindThrough:
		if o.f, err = openThrough(ctx, t.path); err != nil {
			return nil, fmt.Errorf("target %s: %w", name, err)
		}
		o.w = o.f
	default:
		dir, pattern := tempPattern(t.path)
		if o.f, o.lock, err = tmplock.CreateTemp(dir, pattern); err != nil {
			return nil, fmt.Errorf("create temporary file: %w", err)
		}
		o.w = &writeback{f: o.f}
	}
	return o, nil
}

// writebackChunk is how much is written before its write-back to disk is
// started.
const writebackChunk = 16 << 20

// writeback writes to f and starts writing each chunk back to the disk
// as soon as it is complete (sync_file_range, not waiting), so that the
// fsync before the rename waits for the last chunks only instead of the
// whole image: the disk works while the rest of the stream is made.
type writeback struct {
	f          *os.File
	off, start int64
	failed     bool // sync_file_range unsupported: left to the fsync
}

func (w *writeback) Write(b []byte) (int, error) {
	n, err := w.f.Write(b)
	w.off += int64(n)
	if !w.failed && w.off-w.start >= writebackChunk {
		if unix.SyncFileRange(int(w.f.Fd()), w.start, w.off-w.start, unix.SYNC_FILE_RANGE_WRITE) != nil {
			w.failed = true
		}
		w.start = w.off
	}
	return n, err
}

// openThrough opens a FIFO, device or magic link for writing. Opening a
// FIFO waits for its reader; cancellation ends the wait by opening it
// for reading ourselves.
func openThrough(ctx context.Context, path string) (*os.File, error) {
	flags := os.O_WRONLY | unix.O_NOCTTY
	if fi, err := os.Stat(path); err == nil && fi.Mode().IsRegular() {
		flags |= os.O_TRUNC
	}
	type res struct {
		f   *os.File
		err error
	}
	ch := make(chan res, 1)
	go func() {
		f, err := os.OpenFile(path, flags, 0)
		ch <- res{f, err}
	}()
	select {
	case r := <-ch:
		return r.f, r.err
	case <-ctx.Done():
		if r, err := os.OpenFile(path, os.O_RDONLY|unix.O_NONBLOCK, 0); err == nil {
			defer r.Close()
		}
		if r := <-ch; r.f != nil {
			r.f.Close()
		}
		return nil, ctx.Err()
	}
}

// scratch is where temporaries that are not the output itself go (an OCI
// layer, a layout to be archived): next to the target when it is renamed
// into place, else in the temporary directory.
func (t target) scratch() (dir, pattern string) {
	if t.kind == kindThrough {
		return os.TempDir(), scratchPattern
	}
	return tempPattern(t.path)
}

// scratchPattern names export's temporaries in the temporary directory.
const scratchPattern = "debstrap-export-*"

// commit makes the output final: the temporary gets its mode, reaches
// the disk and is renamed onto the target; a target written through is
// only closed.
func (o *output) commit() error {
	defer o.lock.Release()
	if o.f == nil {
		return nil
	}
	if o.t.kind == kindThrough {
		if err := o.f.Close(); err != nil {
			return fmt.Errorf("close %s: %w", o.t.name, err)
		}
		return nil
	}
	f := o.f
	if err := f.Chmod(fileMode()); err != nil {
		f.Close()
		return fmt.Errorf("chmod %s: %w", f.Name(), err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("fsync %s: %w", f.Name(), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", f.Name(), err)
	}
	if err := renameOnto(f.Name(), o.t); err != nil {
		return err
	}
	o.f = nil
	return syncDir(filepath.Dir(o.t.path))
}

// abort removes the temporary (or closes the target written through).
func (o *output) abort() {
	defer o.lock.Release()
	if o.f == nil {
		return
	}
	o.f.Close()
	if o.t.kind != kindThrough {
		os.Remove(o.f.Name())
	}
	o.f = nil
}

// renameOnto renames tmp onto t. Onto a new name nothing is replaced
// (RENAME_NOREPLACE: what appeared there during the build stays); onto a
// file, only if it still is a regular file.
func renameOnto(tmp string, t target) error {
	switch t.kind {
	case kindNew:
		err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, t.path, unix.RENAME_NOREPLACE)
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
			// No RENAME_NOREPLACE on this file system: check, then rename.
			if _, lerr := os.Lstat(t.path); lerr == nil {
				err = unix.EEXIST
			} else {
				err = syscall.Rename(tmp, t.path)
			}
		}
		if errors.Is(err, unix.EEXIST) || errors.Is(err, unix.ENOTEMPTY) {
			return fmt.Errorf("target %s appeared during the build; not replacing it", t.name)
		}
		if err != nil {
			return fmt.Errorf("rename into place: %w", err)
		}
	case kindFile:
		if fi, err := os.Lstat(t.path); err == nil && !fi.Mode().IsRegular() {
			return fmt.Errorf("target %s is no longer a regular file; not replacing it", t.name)
		}
		if err := os.Rename(tmp, t.path); err != nil {
			return fmt.Errorf("rename into place: %w", err)
		}
	default:
		return fmt.Errorf("target %s: cannot rename onto it", t.name)
	}
	return nil
}

// dirOutput is a directory format's temporary tree.
type dirOutput struct {
	t    target
	tmp  string
	lock *tmplock.Lock
	done bool // committed: abort does nothing
}

// mkdirOutput makes the temporary directory for the directory target
// name: next to it, or inside it when it is an existing empty directory
// (whose parent may not be writable, and which is kept, not replaced).
func mkdirOutput(name string) (*dirOutput, error) {
	t, err := resolveDir(name)
	if err != nil {
		return nil, err
	}
	dir, pattern := tempPattern(t.path)
	if t.kind == kindEmptyDir {
		dir, pattern = t.path, innerPattern
	}
	tmp, l, err := tmplock.MkdirTemp(dir, pattern)
	if err != nil {
		return nil, fmt.Errorf("create temporary directory: %w", err)
	}
	return &dirOutput{t: t, tmp: tmp, lock: l}, nil
}

// commit puts the finished tree in place: renamed to a new name, or its
// contents moved into the existing empty directory, which then takes the
// tree's mode, owner and mtime.
func (d *dirOutput) commit() error {
	if err := syncTree(d.tmp); err != nil {
		return err
	}
	if d.t.kind == kindNew {
		if err := renameOnto(d.tmp, d.t); err != nil {
			return err
		}
		d.done = true
		d.lock.Release()
		return syncDir(filepath.Dir(d.t.path))
	}
	names, err := os.ReadDir(d.tmp)
	if err != nil {
		return err
	}
	var top unix.Stat_t
	if err := unix.Lstat(d.tmp, &top); err != nil {
		return fmt.Errorf("stat %s: %w", d.tmp, err)
	}
	for _, n := range names {
		err := unix.Renameat2(unix.AT_FDCWD, filepath.Join(d.tmp, n.Name()), unix.AT_FDCWD, filepath.Join(d.t.path, n.Name()), unix.RENAME_NOREPLACE)
		if err != nil {
			return fmt.Errorf("move %s into %s: %w", n.Name(), d.t.name, err)
		}
	}
	if err := os.Remove(d.tmp); err != nil {
		return fmt.Errorf("remove %s: %w", d.tmp, err)
	}
	d.done = true
	d.lock.Release()
	if os.Geteuid() == 0 {
		if err := os.Lchown(d.t.path, int(top.Uid), int(top.Gid)); err != nil {
			return fmt.Errorf("chown %s: %w", d.t.name, err)
		}
	}
	if err := unix.Chmod(d.t.path, top.Mode&0o7777); err != nil {
		return fmt.Errorf("chmod %s: %w", d.t.name, err)
	}
	ts := []unix.Timespec{top.Mtim, top.Mtim}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, d.t.path, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("set mtime of %s: %w", d.t.name, err)
	}
	return syncDir(d.t.path)
}

// abort removes the temporary tree, unless committed.
func (d *dirOutput) abort() {
	if !d.done {
		removeAll(d.tmp)
		d.lock.Release()
		d.done = true
	}
}

// Sweep removes what a killed build left at target: temporaries next to
// it, or inside it when it is a directory, whose builder is dead
// (tmplock), and export's temporaries in the temporary directory. It
// returns what it removed.
func Sweep(name string, log *slog.Logger) []string {
	rm := func(p string) error { removeAll(p); return nil }
	var out []string
	out = append(out, tmplock.Sweep(os.TempDir(), scratchPattern, rm, log)...)
	if name == Stdout || name == "" || IsRegistry(name) {
		return out
	}
	p := filepath.Clean(name)
	dir, pattern := tempPattern(p)
	out = append(out, tmplock.Sweep(dir, pattern, rm, log)...)
	if real, err := filepath.EvalSymlinks(p); err == nil && real != p {
		dir, pattern := tempPattern(real)
		out = append(out, tmplock.Sweep(dir, pattern, rm, log)...)
	}
	if fi, err := os.Lstat(p); err == nil && fi.IsDir() {
		out = append(out, tmplock.Sweep(p, innerPattern, rm, log)...)
	}
	return out
}

// syncDir makes a rename in dir durable. File systems that cannot fsync a
// directory say EINVAL; that is no reason to fail the build.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOTSUP) {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}

// removeAll removes a temporary tree, first making its directories
// writable: a root written as an ordinary user may hold 0555 directories.
func removeAll(p string) {
	if err := os.RemoveAll(p); err == nil {
		return
	}
	_ = filepath.WalkDir(p, func(q string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = os.Chmod(q, 0o700)
		}
		return nil
	})
	_ = os.RemoveAll(p)
}

// umask is the process's file mode creation mask, read from
// /proc/self/status (setting it to read it would race with other
// goroutines creating files); 022 if it cannot be read.
func umask() uint32 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0o022
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "Umask:"); ok {
			if n, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32); err == nil {
				return uint32(n)
			}
		}
	}
	return 0o022
}

// fileMode and dirMode are the modes of what export writes besides the
// image's own tree: readable by all unless the umask says otherwise (a
// temporary file starts 0600, which would keep other users' podman or
// docker from reading an image root made).
func fileMode() os.FileMode { return os.FileMode(0o666 &^ umask()) }
func dirMode() os.FileMode  { return os.FileMode(0o777 &^ umask()) }
