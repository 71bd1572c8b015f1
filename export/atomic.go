package export

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// tempName is the pattern of temporaries next to target: hidden, and
// named after it so a leftover from a crash says what it was.
func tempPattern(target string) (dir, pattern string) {
	target = filepath.Clean(target)
	return filepath.Dir(target), "." + filepath.Base(target) + ".tmp-*"
}

// checkFileTarget refuses a target a file cannot replace.
func checkFileTarget(target string) error {
	fi, err := os.Lstat(target)
	if err == nil && fi.IsDir() {
		return fmt.Errorf("target %s is an existing directory", target)
	}
	dir := filepath.Dir(target)
	if fi, err := os.Stat(dir); err != nil {
		return fmt.Errorf("directory of target: %w", err)
	} else if !fi.IsDir() {
		return fmt.Errorf("directory of target %s is not a directory", dir)
	}
	return nil
}

// checkDirTarget refuses a target a directory cannot replace: rename(2)
// replaces only an empty directory, and a non-empty one is probably a
// mistake in the command line, as mmdebstrap also judges.
func checkDirTarget(target string) error {
	fi, err := os.Lstat(target)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("target: %w", err)
	case !fi.IsDir():
		return fmt.Errorf("target %s exists and is not a directory", target)
	default:
		names, err := os.ReadDir(target)
		if err != nil {
			return fmt.Errorf("target: %w", err)
		}
		if len(names) > 0 {
			return fmt.Errorf("target directory %s exists and is not empty", target)
		}
	}
	dir := filepath.Dir(filepath.Clean(target))
	if fi, err := os.Stat(dir); err != nil {
		return fmt.Errorf("directory of target: %w", err)
	} else if !fi.IsDir() {
		return fmt.Errorf("directory of target %s is not a directory", dir)
	}
	return nil
}

// createTemp opens a new temporary file next to target.
func createTemp(target string) (*os.File, error) {
	dir, pattern := tempPattern(target)
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, fmt.Errorf("create temporary file: %w", err)
	}
	return f, nil
}

// mkdirTemp makes a new temporary directory next to target.
func mkdirTemp(target string) (string, error) {
	dir, pattern := tempPattern(target)
	d, err := os.MkdirTemp(dir, pattern)
	if err != nil {
		return "", fmt.Errorf("create temporary directory: %w", err)
	}
	return d, nil
}

// commitFile makes the finished temporary f durable and renames it to
// target. f is closed either way.
func commitFile(f *os.File, target string) error {
	if err := f.Chmod(0o644); err != nil {
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
	if err := os.Rename(f.Name(), target); err != nil {
		return fmt.Errorf("rename into place: %w", err)
	}
	return syncDir(filepath.Dir(target))
}

// commitDir renames the finished temporary directory tmp to target, which
// may be an existing empty directory.
func commitDir(tmp, target string) error {
	// syscall.Rename, not os.Rename: os.Rename refuses to replace an
	// existing directory, even an empty one, which rename(2) allows.
	if err := syscall.Rename(tmp, filepath.Clean(target)); err != nil {
		return fmt.Errorf("rename into place: %w", err)
	}
	return syncDir(filepath.Dir(filepath.Clean(target)))
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
