package configure

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// mounts is what setupMounts did inside a root, to be undone.
type mounts struct {
	root string
	log  *slog.Logger
	made []string             // directories created for mount points
	mt   map[string]time.Time // mtimes of their parents, put back after
}

// devNodes are the character devices of the scripts' /dev (mmdebstrap's
// list): mknod'ed as root, bind-mounted from the host in a user
// namespace, where mknod is not allowed.
var devNodes = []struct {
	name         string
	major, minor uint32
}{
	{"console", 5, 1}, {"full", 1, 7}, {"null", 1, 3}, {"random", 1, 8},
	{"tty", 5, 0}, {"urandom", 1, 9}, {"zero", 1, 5},
}

var devLinks = [][2]string{
	{"fd", "/proc/self/fd"}, {"stdin", "/proc/self/fd/0"}, {"stdout", "/proc/self/fd/1"},
	{"stderr", "/proc/self/fd/2"}, {"ptmx", "pts/ptmx"},
}

// setupMounts mounts, inside root: /proc (a new one for our PID
// namespace), /sys (optional: read-only sysfs, or a bind mount in a user
// namespace) and /dev as a tmpfs of its own with the standard nodes, a
// new devpts instance and a tmpfs /dev/shm. A private /dev keeps the
// root's own /dev (and what the table has there) untouched. Directories
// missing for mount points are made and removed again by teardown. The
// result is never nil, so that teardown can always run.
func setupMounts(root string, log *slog.Logger) (*mounts, error) {
	m := &mounts{root: root, log: log, mt: make(map[string]time.Time)}
	if m.dir("/proc") {
		p := root + "/proc"
		// Never the host's /proc bound in instead: its /proc/1/root and
		// every process's root and cwd lead out of the root.
		if err := unix.Mount("proc", p, "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
			return m, fmt.Errorf("mounting a /proc of the scripts' own: %w", err)
		}
	}
	if m.dir("/sys") {
		p := root + "/sys"
		if err := unix.Mount("sysfs", p, "sysfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
			// Without a network namespace of our own sysfs cannot be mounted
			// in a user namespace; mmdebstrap bind-mounts it too.
			// Read-only, as the sysfs would have been.
			if err2 := unix.Mount("/sys", p, "", unix.MS_BIND|unix.MS_REC, ""); err2 != nil {
				log.Warn("no /sys for the maintainer scripts", "err", err2)
			} else if err3 := unix.Mount("", p, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err3 != nil {
				log.Debug("the scripts' /sys stays writable", "err", err3)
			}
		}
	}
	if !m.dir("/dev") {
		return m, errors.New("no /dev directory for the maintainer scripts")
	}
	dev := root + "/dev"
	if err := unix.Mount("tmpfs", dev, "tmpfs", unix.MS_NOSUID|unix.MS_NOEXEC, "mode=0755,size=1m"); err != nil {
		return m, fmt.Errorf("mounting a tmpfs on /dev: %w", err)
	}
	for _, n := range devNodes {
		p := dev + "/" + n.name
		err := unix.Mknod(p, unix.S_IFCHR|0o666, int(unix.Mkdev(n.major, n.minor)))
		if err == nil {
			err = unix.Chmod(p, 0o666)
		} else {
			err = bindDevice("/dev/"+n.name, p)
		}
		if err != nil {
			if n.name == "null" {
				return m, fmt.Errorf("making /dev/null: %w", err)
			}
			log.Debug("no device node for the maintainer scripts", "node", "/dev/"+n.name, "err", err)
		}
	}
	for _, l := range devLinks {
		if err := os.Symlink(l[1], dev+"/"+l[0]); err != nil {
			return m, err
		}
	}
	if err := os.Mkdir(dev+"/pts", 0o755); err != nil {
		return m, err
	}
	const ptsFlags = unix.MS_NOSUID | unix.MS_NOEXEC
	if err := unix.Mount("devpts", dev+"/pts", "devpts", ptsFlags, "newinstance,ptmxmode=0666,mode=0620,gid=5"); err != nil {
		// gid 5 (tty) is not mapped with a single-id user namespace.
		if err2 := unix.Mount("devpts", dev+"/pts", "devpts", ptsFlags, "newinstance,ptmxmode=0666,mode=0620"); err2 != nil {
			log.Debug("no /dev/pts for the maintainer scripts", "err", err2)
		}
	}
	if err := os.Mkdir(dev+"/shm", 0o755); err != nil {
		return m, err
	}
	if err := unix.Mount("tmpfs", dev+"/shm", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=1777"); err != nil {
		log.Debug("no tmpfs on /dev/shm", "err", err)
		unix.Chmod(dev+"/shm", 0o1777)
	}
	return m, nil
}

// mountPoints makes, in the helper, the directories setupMounts mounts
// on where the root lacks them; teardown removes them again. The mounts
// themselves are made in the scripts' own mount namespace (enterRoot) and
// go with it.
func mountPoints(root string, log *slog.Logger) (*mounts, error) {
	m := &mounts{root: root, log: log, mt: make(map[string]time.Time)}
	m.dir("/proc")
	m.dir("/sys")
	if !m.dir("/dev") {
		return m, errors.New("no /dev directory for the maintainer scripts")
	}
	return m, nil
}

// enterRoot makes root the root directory of our mount namespace, as a
// container runtime does: root is bind-mounted on itself, given its
// /proc, /sys and /dev (setupMounts), and pivoted to; the old root is
// unmounted, so no path, not even /proc/1/root, leads back to the host
// (a chroot leaves both: chroot(2) again from a subdirectory escapes it).
// Only as PID 1 of a new PID and mount namespace of our own.
func enterRoot(root string, log *slog.Logger) error {
	if os.Getpid() != 1 {
		return errors.New("not in namespaces of its own; this command is only for debstrap itself")
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making mounts private: %w", err)
	}
	if err := unix.Mount(root, root, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind-mounting the root on itself: %w", err)
	}
	if _, err := setupMounts(root, log); err != nil {
		return err
	}
	if err := unix.Chdir(root); err != nil {
		return err
	}
	// pivot_root(".", "."): the old root is stacked on the new one and
	// unmounted from there, with no directory of the root's to put it in.
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root to %s: %w", root, err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("unmounting the old root: %w", err)
	}
	return unix.Chdir("/")
}

// bindDevice bind-mounts the host's device node host onto an empty file p.
func bindDevice(host, p string) error {
	var st unix.Stat_t
	if err := unix.Stat(host, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFCHR {
		return fmt.Errorf("%s is not a character device", host)
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
	if err != nil {
		return err
	}
	f.Close()
	if err := unix.Mount(host, p, "", unix.MS_BIND, ""); err != nil {
		os.Remove(p)
		return err
	}
	return nil
}

// dir reports whether the root has a real directory at p to mount on,
// making it if it is missing.
func (m *mounts) dir(p string) bool {
	d := m.root + p
	fi, err := os.Lstat(d)
	switch {
	case err == nil && fi.IsDir():
		return true
	case err == nil:
		// A symlink could lead the mount out of the root.
		m.log.Warn("not mounting on a non-directory", "path", p, "mode", fi.Mode().String())
		return false
	case !errors.Is(err, fs.ErrNotExist):
		m.log.Warn("not mounting", "path", p, "err", err)
		return false
	}
	parent := filepath.Dir(d)
	if fi, err := os.Lstat(parent); err == nil {
		if _, seen := m.mt[parent]; !seen {
			m.mt[parent] = fi.ModTime()
		}
	}
	if err := os.Mkdir(d, 0o755); err != nil {
		m.log.Warn("not mounting", "path", p, "err", err)
		return false
	}
	m.made = append(m.made, d)
	return true
}

// teardown unmounts everything under the root, deepest first (also what
// maintainer scripts mounted, binfmt_misc for one), and removes the
// directories made for mount points.
func (m *mounts) teardown() error {
	var errs []error
	points, err := mountsUnder(m.root)
	if err != nil {
		errs = append(errs, err)
	}
	for _, p := range points {
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("unmounting %s: %w", p, err))
		}
	}
	if left, _ := mountsUnder(m.root); len(left) > 0 {
		errs = append(errs, fmt.Errorf("still mounted: %s", strings.Join(left, ", ")))
	}
	for i := len(m.made) - 1; i >= 0; i-- {
		if err := removeMountPoint(m.made[i]); err != nil {
			errs = append(errs, err)
		}
	}
	for p, t := range m.mt {
		os.Chtimes(p, t, t)
	}
	m.made, m.mt = nil, map[string]time.Time{}
	return errors.Join(errs...)
}

// removeMountPoint removes a directory made to mount on. A mount on it
// in the scripts' namespace, gone with its last process, can be released
// a moment later: EBUSY until then.
func removeMountPoint(d string) error {
	var err error
	for i := 0; i < 50; i++ {
		if err = os.Remove(d); !errors.Is(err, syscall.EBUSY) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
	return err
}

// mountsUnder lists the mount points strictly under dir in our mount
// namespace, deepest first.
func mountsUnder(dir string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		p := unescapeMountinfo(fields[4])
		if strings.HasPrefix(p, dir+"/") {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if len(out[i]) != len(out[j]) {
			return len(out[i]) > len(out[j])
		}
		return out[i] > out[j]
	})
	return out, sc.Err()
}

// unescapeMountinfo undoes the octal escapes (\040 for a space…) of
// /proc/self/mountinfo.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
