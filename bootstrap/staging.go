package bootstrap

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/debstrap/debstrap/internal/tmplock"
	"golang.org/x/sys/unix"
)

// Names of what a build makes in a temporary directory. Each is marked
// (tmplock) while its build lives, so a later build can tell one a killed
// build left and remove it.
const (
	stagePattern = "debstrap-stage-*"
	// The configure helper's job files (configure.jobPattern).
	configurePattern = "debstrap-configure-*"
	// Staging roots of debstrap before the marks: nobody holds a lock on
	// them, so they too go.
	legacyStagePattern = "debstrap-[0-9]*"
)

// stagingParents are the places a staging root may have been put: the
// configured one, $TMPDIR, /dev/shm and the system's temporary directory.
func stagingParents(configured string) []string {
	var out []string
	for _, d := range []string{configured, os.Getenv("TMPDIR"), shmDir, os.TempDir()} {
		if d != "" && !slices.Contains(out, filepath.Clean(d)) {
			out = append(out, filepath.Clean(d))
		}
	}
	return out
}

// sweepStaging removes the staging roots and configure job directories
// that killed builds left in parents. remove removes one tree; it may
// hold files of other owners (a killed unshare build's).
func sweepStaging(parents []string, remove func(string) error, log *slog.Logger) []string {
	var out []string
	for _, dir := range parents {
		for _, pat := range []string{stagePattern, legacyStagePattern, configurePattern} {
			out = append(out, tmplock.Sweep(dir, pat, remove, log)...)
		}
	}
	return out
}

// treeRemover removes a tree a build made: as the builder (making
// directories writable on the way), else with inNamespace (files owned
// by subordinate ids, which only a user namespace can remove), if set.
func treeRemover(ctx context.Context, inNamespace func(ctx context.Context, dir string) error) func(string) error {
	return func(dir string) error {
		err := removeAll(dir)
		if err == nil || inNamespace == nil || !errors.Is(err, fs.ErrPermission) {
			return err
		}
		if nerr := inNamespace(ctx, dir); nerr != nil {
			return fmt.Errorf("%w; in a user namespace: %w", err, nerr)
		}
		return nil
	}
}

// makeStaging makes a marked staging directory in parent.
func makeStaging(parent string) (string, *tmplock.Lock, error) {
	dir, l, err := tmplock.MkdirTemp(parent, stagePattern)
	if err != nil {
		return "", nil, fmt.Errorf("staging directory: %w", err)
	}
	return dir, l, nil
}

// shmDir is the tmpfs a staging root prefers when nobody chose a place.
const shmDir = "/dev/shm"

// stagingParent picks the directory for the staging root, which holds the
// unpacked packages until the export and is removed after it. A place set
// in the configuration or in $TMPDIR wins. Otherwise it is /dev/shm when
// that is a tmpfs where files may be executed and with room for twice the
// packages' Installed-Size, that much being at most a quarter of the
// memory available; else the system's temporary directory.
//
// Why: unpacking creates thousands of files that live for seconds. On a
// disk file system each creation costs a journal update; on some virtual
// disks that was 100-500 µs a file and made the unpack phase eight times
// slower than on tmpfs (docs/performance.md). The bytes never need to
// reach a disk.
func stagingParent(configured string, installedSize int64, log *slog.Logger) string {
	if configured != "" {
		return configured
	}
	if t := os.Getenv("TMPDIR"); t != "" {
		return t
	}
	need := int64(math.MaxInt64)
	if installedSize < need/2 {
		need = 2 * installedSize
	}
	ok, why := roomyTmpfs(shmDir, need)
	if ok {
		log.Debug("staging in tmpfs", "dir", shmDir)
		return shmDir
	}
	log.Debug("staging in the temporary directory", "dir", os.TempDir(), "not "+shmDir, why)
	return os.TempDir()
}

// roomyTmpfs reports whether dir is a writable, executable tmpfs with need
// bytes free, need being at most a quarter of the available memory.
func roomyTmpfs(dir string, need int64) (bool, string) {
	var fs unix.Statfs_t
	if err := unix.Statfs(dir, &fs); err != nil {
		return false, err.Error()
	}
	if fs.Type != unix.TMPFS_MAGIC {
		return false, "not a tmpfs"
	}
	if fs.Flags&(unix.ST_NOEXEC|unix.ST_RDONLY) != 0 {
		return false, "mounted noexec or read-only"
	}
	if unix.Access(dir, unix.W_OK|unix.X_OK) != nil {
		return false, "not writable"
	}
	if free := int64(fs.Bavail) * fs.Bsize; free < need {
		return false, "too little free space"
	}
	if avail := memAvailable(); avail <= 0 || need > avail/4 {
		return false, "too little free memory"
	}
	return true, ""
}

// memAvailable is MemAvailable from /proc/meminfo in bytes, or 0.
func memAvailable() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "MemAvailable:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return 0
		}
		return kb << 10
	}
	return 0
}
