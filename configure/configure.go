// Package configure finishes a root filesystem whose packages are all
// unpacked: it runs (or defers) what dpkg does after unpacking, so that
// the metadata table of the rootfs.Stage describes the configured root.
//
// Modes, in mmdebstrap's words:
//
//   - root: as root, chroot into the staging directory and run the image's
//     own dpkg there.
//   - unshare: the same as an ordinary user, inside a user namespace: the
//     user's own id as root plus the /etc/subuid and /etc/subgid range
//     (newuidmap, newgidmap) when there is one, else the own id alone (then
//     scripts that chown to other ids fail: Debian's base-files does).
//   - extract: leave the packages unpacked and ship a second stage
//     (SecondStage) that finishes the job, like debootstrap --foreign.
//   - native: pure Go, no execution (package native; not picked here).
//   - auto: root if run as root, else unshare if a user namespace with an
//     id range works, else an error.
//
// # The second stage
//
// One script (secondStage) serves all modes. It brings the root to the
// state dpkg --unpack would have left: each new conffile moved to
// NAME.dpkg-new (dpkg records "newconffile" and puts it back while
// configuring), each preinst run with "install" from a tmp.ci control
// area as dpkg runs a new package's (debconf reads the package name
// there). Like mmdebstrap it does the Essential set (with what it depends
// on) first and configures it, then the rest with dpkg --configure -a:
// passwd's postinst then finds login's login.defs in place. Daemons are
// kept from starting with policy-rc.d (exit 101) and a fake
// start-stop-daemon, as debootstrap and mmdebstrap do.
//
// Preinsts by hand rather than dpkg --install of the cached .debs (which
// is what mmdebstrap does for the Essential set, over a tree it already
// extracted): the files and the dpkg database already are what --unpack
// leaves; re-unpacking would rewrite every file for nothing.
//
// # Root and unshare
//
// debstrap re-executes itself (Helper) in new mount, PID, UTS and IPC
// namespaces, plus a user namespace in unshare mode. The helper
// materializes the table on the staging directory (chown, then chmod so
// setuid bits survive, then xattrs, which chown clears; device nodes
// where mknod is allowed; the packages' mtimes), mounts /proc, /sys and a
// private /dev, and runs the second stage in a chroot. It then kills
// whatever the scripts left running, unmounts, removes what mmdebstrap's
// cleanup removes, rescans the disk (stat as root tells the truth:
// owners, modes, devices, xattrs, hard links) and gives the disk back to
// the builder. The parent applies the scan to the table.
package configure

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/debstrap/debstrap/rootfs"
)

// Mode is how packages are configured (--mode).
type Mode string

const (
	ModeAuto    Mode = "auto"
	ModeRoot    Mode = "root"
	ModeUnshare Mode = "unshare"
	ModeExtract Mode = "extract"
	ModeNative  Mode = "native"
)

// Configurer finishes an unpacked root. After Configure returns nil the
// stage's table describes the root as the chosen mode left it.
type Configurer interface {
	Name() string
	Configure(ctx context.Context, st *rootfs.Stage, opts Options) error
}

// Options are what every mode may use.
type Options struct {
	Logger *slog.Logger
	// Arch is the root's Debian architecture; root and unshare refuse one
	// the host cannot run. "" skips the check.
	Arch string
	// Env is the whole environment of the maintainer scripts; nil means
	// DefaultEnv() plus SOURCE_DATE_EPOCH from Epoch.
	Env []string
	// Epoch, when not zero, is SOURCE_DATE_EPOCH for the scripts: shadow
	// takes the last password change day from it, for one.
	Epoch time.Time
	// Order is the unpack order of the packages (their preinsts run in
	// it); nil means st.Packages().
	Order []string
	// Stdout and Stderr receive the output of dpkg and the scripts; nil
	// discards it (the end of stderr still goes into errors).
	Stdout, Stderr io.Writer
	// KeepLogs keeps what mmdebstrap's cleanup removes after configuring:
	// /var/log/dpkg.log, alternatives.log, apt's logs, ldconfig's
	// aux-cache, dbus and systemd machine-id (/etc/machine-id is emptied),
	// and whatever is left in /run (but /run/lock) and /tmp.
	KeepLogs bool
	// Step, if set, is called as each package is configured (progress).
	Step func()
	// TempDir holds the helper's job files; "" = os.TempDir().
	TempDir string
	// PreinstDone names unpacked packages whose preinst install already
	// ran (native mode did it, then left the package to dpkg): the second
	// stage does not run it again.
	PreinstDone []string
	// Deferred are commands to run, in order, before the packages still
	// unpacked are configured: what native mode met in the maintainer
	// scripts of the packages it configured, but left to this run
	// (--mode=auto). A failing one is reported, not fatal, as the
	// scripts that called it need not have stopped on it.
	Deferred []Command
	// DeferredBeside: the deferred Python byte-compiling may go on while
	// dpkg configures the packages left, since none of the scripts that
	// run then compiles Python (the caller checked); else it ends first.
	DeferredBeside bool
	// FirstOrder and RestOrder, if set, list the Essential set and the
	// packages after it in the order to configure them (native's queue
	// in --mode=auto: where a whole dpkg run would configure them); any
	// others still unconfigured follow in dpkg's own order.
	FirstOrder, RestOrder []string
}

// Command is a command line to run inside the root.
type Command struct {
	Dir  string // working directory, inside the root
	Args []string
}

func (o Options) logger() *slog.Logger {
	if o.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Logger
}

func (o Options) env() []string {
	if o.Env == nil {
		env := DefaultEnv()
		if !o.Epoch.IsZero() {
			env = append(env, "SOURCE_DATE_EPOCH="+strconv.FormatInt(o.Epoch.Unix(), 10))
		}
		return env
	}
	return o.Env
}

// DefaultEnv is the environment mmdebstrap gives maintainer scripts, with
// a fixed PATH and HOME instead of the caller's.
func DefaultEnv() []string {
	return []string{
		"DEBIAN_FRONTEND=noninteractive",
		"DEBCONF_NONINTERACTIVE_SEEN=true",
		"LC_ALL=C.UTF-8",
		"LANGUAGE=C.UTF-8",
		"LANG=C.UTF-8",
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=/root",
	}
}

// ErrNoWay is returned by Pick when nothing can run the maintainer scripts.
var ErrNoWay = errors.New("no way to run maintainer scripts: run as root, " +
	"enable unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, " +
	"or kernel.apparmor_restrict_unprivileged_userns=0 on Ubuntu) " +
	"or use --mode=native or --mode=extract")

// ErrNative is returned for --mode=native: it runs nothing, so this
// package has no Configurer for it (cmd/debstrap's native step is).
var ErrNative = errors.New("--mode=native runs no maintainer script: it is native.Configure, not a configure.Configurer")

// Seams for tests.
var (
	geteuid      = os.Geteuid
	probeUnshare = probeUserNamespace
)

// errSingleID is why auto does not pick a user namespace that maps only
// the user's own id: Debian's own base-files postinst chowns to group
// mail, which fails there.
var errSingleID = errors.New("/etc/subuid and /etc/subgid give you no id range, and with your own id alone " +
	"maintainer scripts that chown (base-files, passwd…) fail; add one " +
	"(usermod --add-subuids 100000-165535 --add-subgids 100000-165535 USER, and the uidmap package), " +
	"or ask for --mode=unshare to try anyway")

// Pick returns the Configurer for mode and a root of architecture arch
// ("" = don't check). auto is root when run as root, else unshare when a
// user namespace with a range of ids can be created and used (a real
// probe), else ErrNoWay. An explicit unshare also accepts a namespace
// with only the user's own id.
// root and unshare are refused when the host cannot run arch's binaries
// (not the host's architecture, and no binfmt_misc handler with the F
// flag).
func Pick(mode Mode, arch string) (Configurer, error) {
	switch mode {
	case ModeExtract:
		return extractMode{}, nil
	case ModeNative:
		return nil, ErrNative
	case ModeRoot, ModeUnshare, ModeAuto, "":
	default:
		return nil, fmt.Errorf("unknown mode %q (want auto, root, unshare, extract or native)", mode)
	}
	if arch != "" {
		if err := CanRun(arch); err != nil {
			if mode == ModeAuto || mode == "" {
				return nil, fmt.Errorf("%w; use --mode=extract (or --mode=native once it exists)", err)
			}
			return nil, err
		}
	}
	switch mode {
	case ModeRoot:
		if geteuid() != 0 {
			return nil, errors.New("--mode=root needs root; run as root or use --mode=unshare")
		}
		return rootMode{}, nil
	case ModeUnshare:
		if _, err := probeUnshare(); err != nil {
			return nil, fmt.Errorf("--mode=unshare: %w", err)
		}
		return unshareMode{}, nil
	}
	if geteuid() == 0 {
		return rootMode{}, nil
	}
	full, err := probeUnshare()
	if err == nil && !full {
		err = errSingleID
	}
	if err != nil {
		return nil, fmt.Errorf("%w (user namespace: %v)", ErrNoWay, err)
	}
	return unshareMode{}, nil
}

// rootMode runs the scripts as root in a chroot.
type rootMode struct{}

func (rootMode) Name() string { return string(ModeRoot) }

func (rootMode) Configure(ctx context.Context, st *rootfs.Stage, opts Options) error {
	return configureExec(ctx, st, opts, false)
}

// unshareMode runs the scripts in a chroot inside a user namespace.
type unshareMode struct{}

func (unshareMode) Name() string { return string(ModeUnshare) }

func (unshareMode) Configure(ctx context.Context, st *rootfs.Stage, opts Options) error {
	return configureExec(ctx, st, opts, true)
}
