// Package tmplock marks temporary files and directories as belonging to a
// live process, so that a later run can tell what a killed one left behind
// and remove it.
//
// The mark is an flock(2) on the temporary itself, held through a
// descriptor of its own for as long as the maker wants it. The kernel
// drops it when the process dies, however it dies (SIGKILL included), so a
// temporary whose lock can be taken belongs to nobody. Descriptors are
// close-on-exec: a child that outlives its parent holds no lock.
package tmplock

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// Lock is a held mark. The zero value and a nil *Lock hold nothing.
type Lock struct{ f *os.File }

// Release drops the mark. Later calls do nothing.
func (l *Lock) Release() {
	if l != nil && l.f != nil {
		l.f.Close()
		l.f = nil
	}
}

// errGone: a sweep removed the path between its creation and our lock.
var errGone = errors.New("removed before it could be locked")

// lock takes the mark on p, waiting for a sweep that holds it (a sweep
// holds it only while it removes p). It fails with errGone if p is no
// longer the file that was opened: a sweep took the new temporary for a
// dead one in the instant before we locked it.
func lock(p string) (*Lock, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", p, err)
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", p, err)
	}
	if !same(f, p) {
		f.Close()
		return nil, errGone
	}
	return &Lock{f}, nil
}

// same reports whether p still names the open file f.
func same(f *os.File, p string) bool {
	a, err1 := f.Stat()
	b, err2 := os.Lstat(p)
	return err1 == nil && err2 == nil && os.SameFile(a, b)
}

// MkdirTemp is os.MkdirTemp with the directory marked as ours.
func MkdirTemp(dir, pattern string) (string, *Lock, error) {
	for range 5 {
		p, err := os.MkdirTemp(dir, pattern)
		if err != nil {
			return "", nil, err
		}
		l, err := lock(p)
		if errors.Is(err, errGone) {
			continue
		}
		if err != nil {
			os.Remove(p)
			return "", nil, err
		}
		return p, l, nil
	}
	return "", nil, fmt.Errorf("temporary directory in %s: %w", dir, errGone)
}

// CreateTemp is os.CreateTemp with the file marked as ours. The mark is
// held apart from the returned file, so closing the file (before a
// rename) keeps it.
func CreateTemp(dir, pattern string) (*os.File, *Lock, error) {
	for range 5 {
		f, err := os.CreateTemp(dir, pattern)
		if err != nil {
			return nil, nil, err
		}
		l, err := lock(f.Name())
		if errors.Is(err, errGone) {
			f.Close()
			continue
		}
		if err != nil {
			f.Close()
			os.Remove(f.Name())
			return nil, nil, err
		}
		return f, l, nil
	}
	return nil, nil, fmt.Errorf("temporary file in %s: %w", dir, errGone)
}

// Sweep removes what dead processes left in dir under names matching
// pattern (filepath.Match syntax): regular files and directories owned by
// the effective user whose mark nobody holds. remove removes one path (a
// whole tree); it runs while Sweep holds the mark, so no new owner can
// take it. Sweep returns the paths it removed; what it cannot remove is
// logged and left.
func Sweep(dir, pattern string, remove func(string) error, log *slog.Logger) []string {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	names, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var removed []string
	for _, n := range names {
		if ok, _ := filepath.Match(pattern, n.Name()); !ok {
			continue
		}
		p := filepath.Join(dir, n.Name())
		if sweepOne(p, remove, log) {
			removed = append(removed, p)
		}
	}
	return removed
}

func sweepOne(p string, remove func(string) error, log *slog.Logger) bool {
	fi, err := os.Lstat(p)
	if err != nil || !(fi.Mode().IsRegular() || fi.IsDir()) {
		return false
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); !ok || int(st.Uid) != os.Geteuid() {
		return false // another user's: not ours to judge
	}
	f, err := os.OpenFile(p, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return false // alive (EWOULDBLOCK), or unlockable: leave it
	}
	if !same(f, p) {
		return false
	}
	if err := remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		log.Warn("could not remove what a killed build left", "path", p, "err", err)
		return false
	}
	log.Info("removed what a killed build left", "path", p)
	return true
}
