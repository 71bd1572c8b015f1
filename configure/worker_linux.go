package configure

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// worker does the helper's part on the staging directory. It runs as
// root (of its namespace) and alone: nothing else touches the directory
// while it materializes, scans or restores, so acting on the real paths
// the table and the scan give (no symlink among their parents) is safe.
type worker struct {
	dir      string // the staging directory, symlinks resolved
	log      *slog.Logger
	uid, gid int // who owns the disk in the builder's state
	table    map[string]*wireEntry
	// undone: what materialize could not apply (a device node in a user
	// namespace, an owner outside the id map, an xattr the filesystem
	// refuses); the scan takes it from the table while the inode is the
	// one materialize left.
	undone map[string]*undone
	warned map[string]bool
}

type undone struct {
	ino                   uint64
	owner, xattrs, device bool
}

// ident is what tells whether the scripts changed a path. ctime too:
// an inode number can be reused at once and mtimes copied (touch
// --reference, cp -p), but any change moves the ctime on.
type ident struct {
	ino          uint64
	size         int64
	mtime, ctime int64  // ns
	mode         uint32 // S_IFMT bits
}

// spoolPrefix names the rootfs stage's scratch directories, never part
// of the root.
const spoolPrefix = ".debstrap-spool-"

func work(ctx context.Context, j *job, log *slog.Logger) ([]wireEntry, error) {
	w, err := newWorker(j, log)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	if err := w.materialize(j.Entries); err != nil {
		return nil, errors.Join(err, w.restore())
	}
	snap, err := w.snapshot(j.Entries)
	if err != nil {
		return nil, errors.Join(err, w.restore())
	}
	log.Debug("table materialized", "entries", len(j.Entries), "took", time.Since(start).Round(time.Millisecond).String())
	if j.Hook != "" {
		// What a hook's apt-get leaves (logs, caches) goes as after
		// configuring: mmdebstrap cleans up after its hooks.
		err = w.runHook(ctx, j)
		if err == nil && j.Cleanup {
			err = w.cleanup()
		}
	} else {
		err = w.runScript(ctx, j)
		if err == nil {
			err = w.checkStatus()
		}
		if err == nil && j.Cleanup {
			err = w.cleanup()
		}
	}
	var scan []wireEntry
	if err == nil {
		start = time.Now()
		scan, err = w.scan(snap)
		log.Debug("root rescanned", "entries", len(scan), "took", time.Since(start).Round(time.Millisecond).String())
	}
	if rerr := w.restore(); rerr != nil {
		err = errors.Join(err, fmt.Errorf("giving the staging directory back: %w", rerr))
	}
	return scan, err
}

func newWorker(j *job, log *slog.Logger) (*worker, error) {
	dir, err := filepath.EvalSymlinks(j.Root)
	if err != nil {
		return nil, err
	}
	w := &worker{dir: dir, log: log, uid: j.Uid, gid: j.Gid,
		table: make(map[string]*wireEntry, len(j.Entries)), undone: make(map[string]*undone), warned: make(map[string]bool)}
	for i := range j.Entries {
		w.table[j.Entries[i].Path] = &j.Entries[i]
	}
	return w, nil
}

func (w *worker) disk(p string) string {
	if p == "/" {
		return w.dir
	}
	return w.dir + p
}

func (w *worker) warnOnce(key, msg string, args ...any) {
	if !w.warned[key] {
		w.warned[key] = true
		w.log.Warn(msg, args...)
	}
}

func (w *worker) mark(p string, f func(*undone)) {
	u := w.undone[p]
	if u == nil {
		u = &undone{}
		w.undone[p] = u
	}
	f(u)
}

func lstat(p string) (*syscall.Stat_t, error) {
	var st syscall.Stat_t
	if err := syscall.Lstat(p, &st); err != nil {
		return nil, &fs.PathError{Op: "lstat", Path: p, Err: err}
	}
	return &st, nil
}

func typeOf(e *wireEntry) uint32 {
	switch e.Type {
	case tar.TypeDir:
		return syscall.S_IFDIR
	case tar.TypeSymlink:
		return syscall.S_IFLNK
	case tar.TypeChar:
		return syscall.S_IFCHR
	case tar.TypeBlock:
		return syscall.S_IFBLK
	case tar.TypeFifo:
		return syscall.S_IFIFO
	}
	return syscall.S_IFREG
}

// materialize puts the table's owners, modes, device nodes, xattrs and
// mtimes on disk: chown first (it clears setuid bits and capabilities),
// then chmod, then the xattrs; mtimes last, children before their
// directories. Scripts see the mtimes the packages shipped (dash's
// postinst gives the /bin/sh symlink its man page's with touch
// --reference, as it would under dpkg).
func (w *worker) materialize(entries []wireEntry) error {
	if err := w.materializeMeta(entries); err != nil {
		return err
	}
	for i := len(entries) - 1; i >= 0; i-- {
		e := &entries[i]
		if e.MTime.IsZero() || e.Type == tar.TypeLink {
			continue
		}
		ts := []unix.Timespec{unix.NsecToTimespec(e.MTime.UnixNano()), unix.NsecToTimespec(e.MTime.UnixNano())}
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, w.disk(e.Path), ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("materializing %s: mtime: %w", e.Path, err)
		}
	}
	return nil
}

func (w *worker) materializeMeta(entries []wireEntry) error {
	for i := range entries {
		e := &entries[i]
		p := w.disk(e.Path)
		st, err := lstat(p)
		if err != nil {
			return fmt.Errorf("staging directory and table disagree: %s: %w", e.Path, err)
		}
		want := typeOf(e)
		have := st.Mode & syscall.S_IFMT
		special := want == syscall.S_IFCHR || want == syscall.S_IFBLK || want == syscall.S_IFIFO
		if have != want && !(special && have == syscall.S_IFREG) {
			return fmt.Errorf("staging directory and table disagree: %s: mode %o on disk, table type %q", e.Path, st.Mode, e.Type)
		}
		if e.Type == tar.TypeLink {
			continue // the inode is its group's regular file
		}
		made := false
		if special && have == syscall.S_IFREG {
			if err := w.mknod(e, p); err != nil {
				return err
			}
			made = true
		}
		// What the disk has already right is left alone (as root, the
		// owner of most paths and the mode of most files): a syscall
		// fewer each.
		owned := !made && int(st.Uid) == e.Uid && int(st.Gid) == e.Gid
		if !owned {
			if err := os.Lchown(p, e.Uid, e.Gid); err != nil {
				if !errors.Is(err, syscall.EINVAL) {
					return fmt.Errorf("materializing %s: %w", e.Path, err)
				}
				// The id is not mapped in this user namespace.
				w.warnOnce("owner", "some owners are outside the user namespace's id map; the table keeps them",
					"path", e.Path, "uid", e.Uid, "gid", e.Gid)
				w.mark(e.Path, func(u *undone) { u.owner = true })
			}
		}
		if e.Type == tar.TypeSymlink {
			continue
		}
		// chown clears set-id bits: the mode is set again after one.
		if !owned || st.Mode&0o7777 != uint32(e.Mode&0o7777) {
			if err := syscall.Chmod(p, uint32(e.Mode&0o7777)); err != nil {
				return fmt.Errorf("materializing %s: chmod: %w", e.Path, err)
			}
		}
		for _, k := range sortedKeys(e.Xattrs) {
			if err := unix.Lsetxattr(p, k, e.Xattrs[k], 0); err != nil {
				w.warnOnce("xattr", "cannot set extended attributes on the staging directory; the table keeps them",
					"path", e.Path, "xattr", k, "err", err)
				w.mark(e.Path, func(u *undone) { u.xattrs = true })
			}
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// mknod replaces the placeholder file of a device node or fifo with the
// real thing where the kernel allows it (not in a user namespace).
func (w *worker) mknod(e *wireEntry, p string) error {
	if err := os.Remove(p); err != nil {
		return fmt.Errorf("materializing %s: %w", e.Path, err)
	}
	var err error
	if e.Type == tar.TypeFifo {
		err = unix.Mkfifo(p, uint32(e.Mode&0o777))
	} else {
		dev := unix.Mkdev(uint32(e.Devmajor), uint32(e.Devminor))
		err = unix.Mknod(p, typeOf(e)|uint32(e.Mode&0o777), int(dev))
	}
	if err == nil {
		return nil
	}
	if !w.warned["mknod"] {
		w.warned["mknod"] = true
		w.log.Debug("device nodes stay placeholder files while the scripts run", "path", e.Path, "err", err)
	}
	w.mark(e.Path, func(u *undone) { u.device = true })
	f, ferr := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if ferr != nil {
		return fmt.Errorf("materializing %s: %w", e.Path, ferr)
	}
	return f.Close()
}

// snapshot records every path's inode, size and mtime as materialized.
func (w *worker) snapshot(entries []wireEntry) (map[string]ident, error) {
	snap := make(map[string]ident, len(entries))
	for i := range entries {
		p := entries[i].Path
		st, err := lstat(w.disk(p))
		if err != nil {
			return nil, err
		}
		snap[p] = identOf(st)
		if u := w.undone[p]; u != nil {
			u.ino = st.Ino
		}
	}
	return snap, nil
}

func identOf(st *syscall.Stat_t) ident {
	return ident{ino: st.Ino, size: st.Size, mtime: st.Mtim.Nano(), ctime: st.Ctim.Nano(), mode: st.Mode & syscall.S_IFMT}
}

// runScript runs the second stage in the root, in PID and mount
// namespaces of its own (HelperCommand enter: pivot_root, not chroot).
// Whatever it leaves running is killed and the mount points it needed
// are removed before it returns.
func (w *worker) runScript(ctx context.Context, j *job) error {
	m, err := mountPoints(w.dir, w.log)
	// /bin/sh of the root becomes PID 1 of the scripts' PID namespace, so
	// /proc/1 is the root's own shell, and all they leave dies with it.
	cmd := exec.CommandContext(ctx, "/proc/self/exe", HelperCommand, "enter", w.dir,
		"/bin/sh", "-c", j.Script, "debstrap-second-stage")
	cmd.Args[0] = "debstrap"
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWPID,
		Pdeathsig:  syscall.SIGKILL,
	}
	start := time.Now()
	err = w.run(ctx, m, err, cmd, j.Env)
	w.log.Debug("second stage finished", "took", time.Since(start).Round(time.Millisecond).String(), "err", err)
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("the second stage (dpkg --configure -a) failed: %w", err)
	}
	return err
}

// runHook runs a hook command on the host side with the root's path as
// $1, as mmdebstrap runs its hooks: /proc, /sys and /dev mounted in the
// root (so `chroot "$1" …` works), as root of the helper's namespaces.
func (w *worker) runHook(ctx context.Context, j *job) error {
	// The helper's mount namespace is its own; private, so that nothing
	// mounted here shows on the host.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making mounts private: %w", err)
	}
	m, err := setupMounts(w.dir, w.log)
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", j.Hook, "debstrap-hook", w.dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err = w.run(ctx, m, err, cmd, j.Env); err != nil && ctx.Err() == nil {
		return fmt.Errorf("hook %q failed: %w", j.Hook, err)
	}
	return err
}

// run runs cmd with env, stdin from /dev/null and the helper's stdout
// and stderr, once m's mount points are made (merr: they could not be).
// Whatever it leaves running is killed and m is torn down before run
// returns.
func (w *worker) run(ctx context.Context, m *mounts, merr error, cmd *exec.Cmd, env []string) (err error) {
	defer func() {
		killAll()
		if terr := m.teardown(); terr != nil {
			err = errors.Join(err, fmt.Errorf("unmounting: %w", terr))
		}
	}()
	if merr != nil {
		return merr
	}
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return err
	}
	defer devnull.Close()
	cmd.Env = env
	cmd.Dir = "/"
	cmd.Stdin = devnull
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	err = cmd.Run()
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted: %w", ctx.Err())
	}
	return err
}

// killAll kills what the scripts left running (daemons) and reaps it.
// Only as PID 1 of our own PID namespace: kill(-1) anywhere else would
// hit every process we may signal.
func killAll() {
	if os.Getpid() != 1 {
		return
	}
	syscall.Kill(-1, syscall.SIGKILL)
	for {
		_, err := syscall.Wait4(-1, nil, 0, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return
		}
	}
}

// checkStatus makes sure dpkg left nothing unconfigured.
func (w *worker) checkStatus() error {
	data, err := os.ReadFile(w.disk("/var/lib/dpkg/status"))
	if err != nil {
		return fmt.Errorf("reading the dpkg status: %w", err)
	}
	if p := pendingInStatus(data); len(p) > 0 {
		return fmt.Errorf("dpkg --configure -a left packages unconfigured: %s", strings.Join(p, ", "))
	}
	return nil
}

// cleanup removes what mmdebstrap's cleanup/reproducible, cleanup/run and
// cleanup/tmp remove: logs and caches that differ from build to build,
// machine ids, and leftovers in /run (but /run/lock) and /tmp.
func (w *worker) cleanup() error {
	root, err := os.OpenRoot(w.dir)
	if err != nil {
		return err
	}
	defer root.Close()
	for _, f := range cleanupFiles {
		if err := root.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("cleanup: %w", err)
		}
	}
	if _, err := root.Lstat("etc/machine-id"); err == nil {
		// machine-id(5): an empty file in images, filled at boot.
		if err := root.Remove("etc/machine-id"); err != nil {
			return fmt.Errorf("cleanup: %w", err)
		}
		if err := root.WriteFile("etc/machine-id", nil, 0o644); err != nil {
			return fmt.Errorf("cleanup: %w", err)
		}
	}
	for _, d := range []string{"run", "tmp"} {
		fi, err := root.Stat(d)
		if err != nil || !fi.IsDir() {
			continue
		}
		ents, err := fs.ReadDir(root.FS(), d)
		if err != nil {
			return fmt.Errorf("cleanup: %w", err)
		}
		for _, e := range ents {
			if d == "run" && e.Name() == "lock" {
				continue // /var/lock points there (Policy 9.1.4)
			}
			w.log.Debug("cleanup: removing", "path", "/"+d+"/"+e.Name())
			if err := root.RemoveAll(d + "/" + e.Name()); err != nil {
				return fmt.Errorf("cleanup: %w", err)
			}
		}
	}
	return nil
}

// keepXattr: xattrs that belong to the host, not to the image.
func keepXattr(name string) bool { return name == "security.selinux" }

func listXattrs(p string) (map[string][]byte, error) {
	size, err := unix.Llistxattr(p, nil)
	if err != nil || size == 0 {
		if errors.Is(err, unix.ENOTSUP) {
			err = nil
		}
		return nil, err
	}
	buf := make([]byte, size)
	size, err = unix.Llistxattr(p, buf)
	if err != nil {
		return nil, err
	}
	var out map[string][]byte
	for _, name := range strings.Split(strings.TrimRight(string(buf[:size]), "\x00"), "\x00") {
		if name == "" || keepXattr(name) {
			continue
		}
		n, err := unix.Lgetxattr(p, name, nil)
		if err != nil {
			return nil, fmt.Errorf("getxattr %s: %w", name, err)
		}
		v := make([]byte, n)
		if n > 0 {
			if n, err = unix.Lgetxattr(p, name, v); err != nil {
				return nil, fmt.Errorf("getxattr %s: %w", name, err)
			}
		}
		if out == nil {
			out = make(map[string][]byte)
		}
		out[name] = v[:n]
	}
	return out, nil
}

// scan reads the root back from disk: every path as stat(2) sees it
// (we are root of the namespace: owners as the image has them), hard
// links grouped by inode, the least path of a group the regular file.
func (w *worker) scan(snap map[string]ident) ([]wireEntry, error) {
	top, err := lstat(w.dir)
	if err != nil {
		return nil, err
	}
	var out []wireEntry
	links := make(map[uint64][]int) // inode → indexes into out
	err = filepath.WalkDir(w.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		tp := "/" + filepath.ToSlash(strings.TrimPrefix(strings.TrimPrefix(p, w.dir), "/"))
		if path.Dir(tp) == "/" && strings.HasPrefix(path.Base(tp), spoolPrefix) {
			return fs.SkipDir
		}
		st, err := lstat(p)
		if err != nil {
			return err
		}
		if st.Dev != top.Dev {
			return fmt.Errorf("%s: still a mount point", tp)
		}
		e := wireEntry{Path: tp, Mode: int64(st.Mode & 0o7777), Uid: int(st.Uid), Gid: int(st.Gid),
			MTime: time.Unix(st.Mtim.Sec, st.Mtim.Nsec).UTC()}
		switch st.Mode & syscall.S_IFMT {
		case syscall.S_IFREG:
			e.Type, e.Size = tar.TypeReg, st.Size
		case syscall.S_IFDIR:
			e.Type = tar.TypeDir
		case syscall.S_IFLNK:
			e.Type = tar.TypeSymlink
			if e.Linkname, err = os.Readlink(p); err != nil {
				return err
			}
		case syscall.S_IFCHR, syscall.S_IFBLK:
			e.Type = tar.TypeChar
			if st.Mode&syscall.S_IFMT == syscall.S_IFBLK {
				e.Type = tar.TypeBlock
			}
			e.Devmajor, e.Devminor = int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
		case syscall.S_IFIFO:
			e.Type = tar.TypeFifo
		default:
			w.log.Warn("socket left in the root; not recorded", "path", tp)
			return nil
		}
		if e.Type == tar.TypeReg || e.Type == tar.TypeDir {
			if e.Xattrs, err = listXattrs(p); err != nil {
				return fmt.Errorf("%s: %w", tp, err)
			}
		}
		was, had := snap[tp]
		now := identOf(st)
		e.Changed = !had || was != now
		e.MTimeChanged = !had || was.ino != now.ino || was.mtime != now.mtime
		if u := w.undone[tp]; u != nil && u.ino == st.Ino {
			t := w.table[tp]
			if u.owner {
				e.Uid, e.Gid = t.Uid, t.Gid
			}
			if u.xattrs {
				e.Xattrs = t.Xattrs
			}
			if u.device && e.Type == tar.TypeReg && e.Size == 0 {
				e.Type, e.Size, e.Devmajor, e.Devminor = t.Type, 0, t.Devmajor, t.Devminor
				e.Changed = false
			}
		}
		if e.Type == tar.TypeReg && st.Nlink > 1 {
			links[st.Ino] = append(links[st.Ino], len(out))
		}
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("rescanning the root: %w", err)
	}
	for _, idx := range links {
		if len(idx) < 2 {
			continue
		}
		sort.Slice(idx, func(a, b int) bool { return out[idx[a]].Path < out[idx[b]].Path })
		first := out[idx[0]].Path
		for _, i := range idx[1:] {
			out[i].Type, out[i].Linkname, out[i].Size = tar.TypeLink, first, 0
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Path < out[b].Path })
	return out, nil
}

// restore gives the disk back to the builder, as the rootfs stage keeps
// it: everything owned by the builder, files 0644 or 0755, directories
// 0755 (the staging directory itself 0700), device nodes and fifos as
// empty placeholder files, no capabilities or other xattrs. It goes on
// after errors and reports the first few.
func (w *worker) restore() error {
	top, err := lstat(w.dir)
	if err != nil {
		return err
	}
	var errs []error
	fail := func(err error) {
		if len(errs) < 5 {
			errs = append(errs, err)
		}
	}
	filepath.WalkDir(w.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			fail(err)
			return nil
		}
		if filepath.Dir(p) == w.dir && strings.HasPrefix(d.Name(), spoolPrefix) {
			return fs.SkipDir
		}
		st, err := lstat(p)
		if err != nil {
			fail(err)
			return nil
		}
		if st.Dev != top.Dev {
			fail(fmt.Errorf("%s: still a mount point", p))
			return fs.SkipDir
		}
		typ := st.Mode & syscall.S_IFMT
		switch typ {
		case syscall.S_IFCHR, syscall.S_IFBLK, syscall.S_IFIFO, syscall.S_IFSOCK:
			if err := os.Remove(p); err != nil {
				fail(err)
				return nil
			}
			if typ == syscall.S_IFSOCK {
				return nil
			}
			f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
			if err != nil {
				fail(err)
				return nil
			}
			f.Close()
			if st, err = lstat(p); err != nil {
				fail(err)
				return nil
			}
			typ = syscall.S_IFREG
		}
		if typ == syscall.S_IFREG || typ == syscall.S_IFDIR {
			if x, _ := listXattrs(p); len(x) > 0 {
				for name := range x {
					if err := unix.Lremovexattr(p, name); err != nil && !errors.Is(err, unix.ENODATA) {
						fail(fmt.Errorf("%s: removing xattr %s: %w", p, name, err))
					}
				}
			}
		}
		if int(st.Uid) != w.uid || int(st.Gid) != w.gid {
			if err := os.Lchown(p, w.uid, w.gid); err != nil {
				fail(err)
			}
		}
		var mode uint32
		switch typ {
		case syscall.S_IFDIR:
			mode = 0o755
			if p == w.dir {
				mode = 0o700
			}
		case syscall.S_IFREG:
			mode = 0o644
			if st.Mode&0o111 != 0 {
				mode = 0o755
			}
		default:
			return nil
		}
		if st.Mode&0o7777 != mode {
			if err := syscall.Chmod(p, mode); err != nil {
				fail(&fs.PathError{Op: "chmod", Path: p, Err: err})
			}
		}
		return nil
	})
	return errors.Join(errs...)
}
