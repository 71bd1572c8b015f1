package configure

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/debstrap/debstrap/internal/tmplock"
	"github.com/debstrap/debstrap/rootfs"
)

// configureExec runs the second stage for real, in a chroot, through the
// helper: as root (userns false) or in a user namespace.
func configureExec(ctx context.Context, st *rootfs.Stage, opts Options, userns bool) error {
	log := opts.logger()
	if opts.Arch != "" {
		if err := CanRun(opts.Arch); err != nil {
			return err
		}
	}
	if !userns && os.Geteuid() != 0 {
		return errors.New("--mode=root needs root")
	}
	pending, essential, work, err := readStatus(st)
	if err != nil {
		return err
	}
	if len(pending) == 0 && len(opts.Deferred) == 0 {
		log.Info("all packages are configured already")
		return nil
	}
	order := opts.Order
	if order == nil {
		order = st.Packages()
	}
	script, err := secondStage(scriptParams{Order: order, Essential: essential, Work: work, PreinstDone: opts.PreinstDone, Deferred: opts.Deferred,
		DeferredBeside: opts.DeferredBeside, FirstOrder: opts.FirstOrder, RestOrder: opts.RestOrder})
	if err != nil {
		return err
	}
	ns, err := chooseNamespaces(userns, log)
	if err != nil {
		return err
	}
	log.Info("configuring", "mode", ns.desc, "packages", len(pending))
	start := time.Now()
	// dpkg says "Setting up PKG" once a package: the progress count.
	stdout := &stepWriter{w: opts.Stdout, step: opts.Step}
	j := job{Script: script, Env: opts.env(), Uid: ns.uid, Gid: ns.gid, Cleanup: !opts.KeepLogs}
	n, err := runJob(ctx, st, opts, ns, j, stdout, stdout.flush)
	if err != nil {
		return err
	}
	log.Debug("maintainer scripts done", "took", time.Since(start).Round(time.Millisecond), "paths", n)
	return nil
}

// runJob hands j, with st's table, to the helper in ns and takes what it
// reports back into st's table; it returns how many paths that was.
// flush, if set, runs once the helper is done (stdout's last line).
func runJob(ctx context.Context, st *rootfs.Stage, opts Options, ns nsSpec, j job, stdout io.Writer, flush func()) (int, error) {
	log := opts.logger()
	before := st.Entries()
	j.Root = st.Dir()
	j.Entries = make([]wireEntry, len(before))
	for i, e := range before {
		j.Entries[i] = toWire(e)
	}
	// Marked, so that a build after a killed one removes it
	// (bootstrap's sweep knows the pattern).
	tmp, lock, err := tmplock.MkdirTemp(opts.TempDir, jobPattern)
	if err != nil {
		return 0, fmt.Errorf("helper job directory: %w", err)
	}
	defer func() {
		os.RemoveAll(tmp)
		lock.Release()
	}()
	j.Result = filepath.Join(tmp, "result.json")
	jobPath := filepath.Join(tmp, "job.json")
	data, err := json.Marshal(j)
	if err != nil {
		return 0, err
	}
	if err := os.WriteFile(jobPath, data, 0o600); err != nil {
		return 0, err
	}
	tail := &tailWriter{max: 4096}
	runErr := runHelper(ctx, ns, []string{"run", jobPath}, stdout, tail, opts.Stderr, log)
	if flush != nil {
		flush()
	}
	var res result
	if data, err := os.ReadFile(j.Result); err == nil {
		if err := json.Unmarshal(data, &res); err != nil {
			return 0, fmt.Errorf("reading the helper's result %s: %w", j.Result, err)
		}
	} else if runErr == nil {
		runErr = fmt.Errorf("the helper left no result: %w", err)
	}
	if res.Error != "" {
		runErr = errors.New(res.Error)
	}
	if runErr != nil {
		if ctx.Err() != nil {
			return 0, fmt.Errorf("%w (%v)", ctx.Err(), runErr)
		}
		return 0, fmt.Errorf("%w%s", runErr, tail.suffix())
	}
	return len(res.Entries), apply(st, before, res.Entries, log)
}

// RunHook runs the shell command hook on the host with the root's path
// as $1, as root of the build: as root (userns false) or as root of a
// user namespace (unshare mode's), the table's owners and modes on disk
// while it runs. What it changes is taken back into the table (what it
// creates is root's, or whose the namespace says). env is its whole
// environment.
func RunHook(ctx context.Context, st *rootfs.Stage, opts Options, userns bool, hook string, env []string) error {
	log := opts.logger()
	if !userns && os.Geteuid() != 0 {
		return errors.New("--mode=root needs root")
	}
	ns, err := chooseNamespaces(userns, log)
	if err != nil {
		return err
	}
	j := job{Hook: hook, Env: env, Uid: ns.uid, Gid: ns.gid, Cleanup: !opts.KeepLogs}
	_, err = runJob(ctx, st, opts, ns, j, opts.Stdout, nil)
	return err
}

// RemoveTree removes dir, which a killed unshare build left holding
// files of subordinate ids that the builder alone cannot remove: from a
// user namespace with unshare mode's id map, where they are root's. As
// root, or without an id range, it only tries as is.
func RemoveTree(ctx context.Context, dir string) error {
	if os.Geteuid() == 0 {
		return removeTree(dir)
	}
	log := slog.New(slog.DiscardHandler)
	ns, err := chooseNamespaces(true, log)
	if err != nil {
		return err
	}
	if ns.newuidmap == nil {
		return removeTree(dir)
	}
	tail := &tailWriter{max: 1024}
	if err := runHelper(ctx, ns, []string{"remove", dir}, nil, tail, nil, log); err != nil {
		return fmt.Errorf("%w%s", err, tail.suffix())
	}
	return nil
}

// nsSpec says how to start the helper.
type nsSpec struct {
	desc      string
	user      bool
	uidMaps   []syscall.SysProcIDMap // written by Go (own id only, or as root)
	gidMaps   []syscall.SysProcIDMap
	newuidmap []string // arguments after the pid, for newuidmap/newgidmap
	newgidmap []string
	uid, gid  int // the builder as the helper sees it
}

// subRange is the first range /etc/subuid or /etc/subgid gives a user.
type subRange struct{ start, count int }

// readSubIDs finds name's (or uid's) first range in an /etc/subuid-style
// file.
func readSubIDs(file, name string, id int) (subRange, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return subRange{}, err
	}
	num := strconv.Itoa(id)
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Split(strings.TrimSpace(line), ":")
		if len(f) != 3 || (f[0] != name && f[0] != num) {
			continue
		}
		start, err1 := strconv.Atoi(f[1])
		count, err2 := strconv.Atoi(f[2])
		if err1 != nil || err2 != nil || start < 0 || count <= 0 {
			return subRange{}, fmt.Errorf("%s: bad line %q", file, line)
		}
		return subRange{start, count}, nil
	}
	return subRange{}, fmt.Errorf("%s has no range for %s", file, name)
}

// subIDFiles are /etc/subuid and /etc/subgid (a seam for tests).
var subIDFiles = [2]string{"/etc/subuid", "/etc/subgid"}

// chooseNamespaces picks root mode's namespaces, or unshare mode's id
// mapping: the user's own id as root plus the /etc/subuid range through
// newuidmap when there is one, else the own id alone.
func chooseNamespaces(userns bool, log *slog.Logger) (nsSpec, error) {
	uid, gid := os.Getuid(), os.Getgid()
	if !userns {
		return nsSpec{desc: "root", uid: uid, gid: gid}, nil
	}
	if os.Geteuid() == 0 {
		// Root writes any mapping itself: the first 65536 ids as they are.
		m := []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 65536}}
		return nsSpec{desc: "unshare (as root)", user: true, uidMaps: m, gidMaps: m}, nil
	}
	name := strconv.Itoa(uid)
	if u, err := user.LookupId(name); err == nil {
		name = u.Username
	}
	single := func(why string) nsSpec {
		log.Warn("user namespace with only your own id: chown to other ids fails inside, "+
			"so maintainer scripts that need other users or groups fail; add a range to /etc/subuid and /etc/subgid",
			"why", why)
		return nsSpec{
			desc:    "unshare (single id)",
			user:    true,
			uidMaps: []syscall.SysProcIDMap{{ContainerID: 0, HostID: uid, Size: 1}},
			gidMaps: []syscall.SysProcIDMap{{ContainerID: 0, HostID: gid, Size: 1}},
		}
	}
	ur, err := readSubIDs(subIDFiles[0], name, uid)
	if err != nil {
		return single(err.Error()), nil
	}
	gr, err := readSubIDs(subIDFiles[1], name, uid)
	if err != nil {
		return single(err.Error()), nil
	}
	for _, tool := range []string{"newuidmap", "newgidmap"} {
		if _, err := exec.LookPath(tool); err != nil {
			return single(tool + " not found (package uidmap)"), nil
		}
	}
	if ur.count < 65535 || gr.count < 65535 {
		log.Warn("subordinate id range smaller than 65535: files owned by ids above it cannot be made",
			"uids", ur.count, "gids", gr.count)
	}
	return nsSpec{
		desc:      "unshare",
		user:      true,
		newuidmap: []string{"0", strconv.Itoa(uid), "1", "1", strconv.Itoa(ur.start), strconv.Itoa(ur.count)},
		newgidmap: []string{"0", strconv.Itoa(gid), "1", "1", strconv.Itoa(gr.start), strconv.Itoa(gr.count)},
	}, nil
}

// runHelper runs `debstrap HelperCommand args…` in the namespaces of ns
// and relays its log records. With newuidmap the helper starts in a
// "wait" step, without privileges, until the parent has written its id
// maps; it then re-executes itself, which gives it the capabilities of
// root in its namespace.
func runHelper(ctx context.Context, ns nsSpec, args []string, stdout io.Writer, tail *tailWriter, stderr io.Writer, log *slog.Logger) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding debstrap's own executable: %w", err)
	}
	logR, logW, err := os.Pipe()
	if err != nil {
		return err
	}
	defer logR.Close()
	argv := append([]string{HelperCommand}, args...)
	if ns.newuidmap != nil {
		argv = append([]string{HelperCommand, "wait"}, args...)
	}
	// The lifeline: we hold its write end until the helper has exited, so
	// the helper reads EOF exactly when we are gone, however we die. It
	// backs up Pdeathsig, which a re-execution that gains capabilities
	// clears (and which is only re-armed after it). In the "wait" step the
	// same pipe carries the go-ahead byte.
	lifeR, lifeW, err := os.Pipe()
	if err != nil {
		logW.Close()
		return err
	}
	defer lifeW.Close()
	files := []*os.File{logW, lifeR}
	cmd := exec.CommandContext(ctx, exe, argv[0:]...)
	cmd.Args[0] = "debstrap"
	cmd.Env = os.Environ()
	cmd.Stdout = stdout
	var errw io.Writer = tail
	if stderr != nil {
		errw = io.MultiWriter(tail, stderr)
	}
	cmd.Stderr = errw
	cmd.ExtraFiles = files
	flags := uintptr(syscall.CLONE_NEWNS | syscall.CLONE_NEWPID | syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC)
	if ns.user {
		flags |= syscall.CLONE_NEWUSER
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  flags,
		UidMappings: ns.uidMaps,
		GidMappings: ns.gidMaps,
		// The helper dies with us, however we die (SIGKILL too), and
		// with it, as PID 1 of its namespace, every script it runs.
		Pdeathsig: syscall.SIGKILL,
		// A session of its own: no controlling terminal for the scripts
		// (no TIOCSTI into ours), and the terminal's ^C reaches only us,
		// who stop the helper in order.
		Setsid: true,
	}
	// On cancellation the helper kills the scripts, unmounts and gives
	// the disk back before it exits.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = time.Minute
	// Pdeathsig fires when the thread that forked exits: keep it.
	runtime.LockOSThread()
	err = cmd.Start()
	runtime.UnlockOSThread()
	logW.Close()
	lifeR.Close()
	if err != nil {
		if ns.user {
			return fmt.Errorf("cannot create a user namespace: %w", err)
		}
		return fmt.Errorf("starting the helper: %w", err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		relayLog(logR, log)
	}()
	if ns.newuidmap != nil {
		if err := writeIDMaps(ctx, cmd.Process.Pid, ns); err != nil {
			lifeW.Close() // the helper sees EOF and gives up
			cmd.Wait()
			wg.Wait()
			return err
		}
		if _, err := lifeW.Write([]byte{1}); err != nil {
			cmd.Wait()
			wg.Wait()
			return fmt.Errorf("signalling the helper: %w", err)
		}
	}
	err = cmd.Wait()
	wg.Wait()
	if err != nil {
		return fmt.Errorf("helper (%s): %w", ns.desc, err)
	}
	return nil
}

func writeIDMaps(ctx context.Context, pid int, ns nsSpec) error {
	p := strconv.Itoa(pid)
	for _, m := range []struct {
		tool string
		args []string
	}{{"newuidmap", ns.newuidmap}, {"newgidmap", ns.newgidmap}} {
		out, err := exec.CommandContext(ctx, m.tool, append([]string{p}, m.args...)...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s %s %s: %w: %s", m.tool, p, strings.Join(m.args, " "), err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}

// relayLog re-emits the helper's JSON log records through log.
func relayLog(r io.Reader, log *slog.Logger) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			log.Debug("helper", "line", sc.Text())
			continue
		}
		var level slog.Level
		if s, ok := rec[slog.LevelKey].(string); ok {
			level.UnmarshalText([]byte(s))
		}
		msg, _ := rec[slog.MessageKey].(string)
		delete(rec, slog.TimeKey)
		delete(rec, slog.LevelKey)
		delete(rec, slog.MessageKey)
		keys := make([]string, 0, len(rec))
		for k := range rec {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		attrs := make([]any, 0, 2*len(keys))
		for _, k := range keys {
			attrs = append(attrs, k, rec[k])
		}
		log.Log(context.Background(), level, msg, attrs...)
	}
}

// jobPattern names the helper's job directories in the temporary
// directory.
const jobPattern = "debstrap-configure-*"

// stepWriter passes the scripts' standard output on to w (nil: nowhere)
// and calls step for each line dpkg starts with "Setting up ".
type stepWriter struct {
	w    io.Writer
	step func()
	mu   sync.Mutex
	line []byte
}

func (s *stepWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range p {
		if c == '\n' {
			s.endLine()
			continue
		}
		if len(s.line) < 64 {
			s.line = append(s.line, c)
		}
	}
	if s.w != nil {
		s.w.Write(p)
	}
	return len(p), nil
}

func (s *stepWriter) endLine() {
	if s.step != nil && strings.HasPrefix(string(s.line), "Setting up ") {
		s.step()
	}
	s.line = s.line[:0]
}

func (s *stepWriter) flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.endLine()
}

// tailWriter keeps the last max bytes written, for error messages.
type tailWriter struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

// suffix is ":\n<last lines>" or "".
func (t *tailWriter) suffix() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.TrimSpace(string(t.buf))
	if s == "" {
		return ""
	}
	if len(t.buf) >= t.max {
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			s = "…" + s[i:]
		}
	}
	return "; its last output:\n" + s
}

// probeUserNamespace checks that the helper can start in a user
// namespace with the mapping unshare mode would use, and be root there:
// mount a tmpfs and, with an id range, chown to another id. full tells
// whether the mapping has a range of ids, not only the user's own.
func probeUserNamespace() (full bool, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	discard := slog.New(slog.DiscardHandler)
	ns, err := chooseNamespaces(true, discard)
	if err != nil {
		return false, err
	}
	what := "single"
	if ns.newuidmap != nil || os.Geteuid() == 0 {
		what = "range"
	}
	tail := &tailWriter{max: 1024}
	if err := runHelper(ctx, ns, []string{"probe", what}, nil, tail, nil, discard); err != nil {
		return false, fmt.Errorf("%w%s", err, tail.suffix())
	}
	return what == "range", nil
}
