package configure

import (
	"fmt"
	"path"
	"regexp"
	"strings"
)

// SecondStage is where --mode=extract leaves the second stage script:
// run it as root inside the root, `chroot ROOT /debstrap/second-stage`.
// It removes /debstrap when done.
const SecondStage = "/debstrap/second-stage"

// cleanupFiles are the logs and caches mmdebstrap removes for
// reproducibility (cleanup/reproducible), relative to the root.
var cleanupFiles = []string{
	"var/log/dpkg.log", "var/log/apt/history.log", "var/log/apt/term.log",
	"var/log/alternatives.log", "var/cache/ldconfig/aux-cache",
	"var/log/apt/eipp.log.xz", "var/lib/dbus/machine-id",
}

// secondStageDir holds the script and its progress (preinsts done).
const secondStageDir = "/debstrap"

// scriptParams shape the second stage script.
type scriptParams struct {
	// Order is the unpack order; unpacked packages not in it come after,
	// as dpkg-query lists them.
	Order []string
	// Essential is configured first, on its own, as mmdebstrap installs
	// the Essential set (with what it depends on) before the rest: later
	// packages' scripts then find login.defs, debconf and so on in place.
	Essential []string
	// Work lists the packages with conffiles or a preinst, for which
	// there is something to do before dpkg --configure; nil means every
	// package may have.
	Work []string
	// PreinstDone lists unpacked packages whose preinst already ran (native
	// mode carried it out before leaving the package to dpkg): their new
	// conffiles are still set aside, their preinst is not run again.
	PreinstDone []string
	// Deferred commands run before dpkg --configure -a configures the
	// rest.
	Deferred []Command
	// DeferredBeside: see Options.
	DeferredBeside bool
	// FirstOrder and RestOrder, if set, are the orders to configure the
	// Essential set and the packages after it in (dpkg --configure
	// PKG…; the rest, -a).
	FirstOrder, RestOrder []string
	// Env lines exported by the script (extract mode; the chroot run
	// gets its environment from the helper instead).
	Env []string
	// State is a directory inside the root for the progress of a run that
	// may be repeated after a failure, and removed when done ("" = none).
	State string
	// Bare: run by hand, maybe in a bare chroot (extract mode): make
	// the basic device nodes and mount /proc if they are not there.
	Bare bool
	// Cleanup removes what mmdebstrap's cleanup removes, when done
	// (extract mode; the helper does it itself after killing what the
	// scripts left running).
	Cleanup bool
}

var (
	pkgNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]*(:[a-z0-9-]+)?$`)
	envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// secondStage returns the script that finishes an unpacked root. It is
// run by /bin/sh inside the root, as root, with / as the working
// directory.
func secondStage(p scriptParams) (string, error) {
	var b strings.Builder
	b.WriteString(`#!/bin/sh
# debstrap second stage: the packages of this root were unpacked without
# dpkg; this does what dpkg --unpack would have done beyond placing the
# files (conffiles as NAME.dpkg-new, preinst install, in unpack order),
# then configures the Essential set and then everything else (dpkg
# --configure -a), with daemons kept from starting (policy-rc.d, fake
# start-stop-daemon). Run it as root inside the root; it may be run
# again after a failure.
set -e
`)
	for _, e := range p.Env {
		k, v, ok := strings.Cut(e, "=")
		if !ok || !envNameRE.MatchString(k) {
			return "", fmt.Errorf("environment entry %q is not NAME=VALUE", e)
		}
		fmt.Fprintf(&b, "export %s=%s\n", k, shellQuote(v))
	}
	for _, l := range []struct {
		name  string
		names []string
	}{{"order", p.Order}, {"essential", p.Essential}, {"work", p.Work}, {"preinst_done", p.PreinstDone}, {"first_order", p.FirstOrder}, {"rest_order", p.RestOrder}} {
		b.WriteString(l.name + "='\n")
		for _, n := range l.names {
			if !pkgNameRE.MatchString(n) {
				return "", fmt.Errorf("package name %q is not a Debian package name", n)
			}
			b.WriteString(n + "\n")
		}
		b.WriteString("'\n")
	}
	fmt.Fprintf(&b, "state=%s\n", shellQuote(p.State))
	flag := func(name string, on bool) {
		if on {
			b.WriteString(name + "=1\n")
		} else {
			b.WriteString(name + "=\n")
		}
	}
	flag("allwork", p.Work == nil)
	flag("bare", p.Bare)
	flag("cleanup", p.Cleanup)
	fmt.Fprintf(&b, "cleanup_files='%s'\n", strings.Join(cleanupFiles, " "))
	// deferred: a function, so that the body runs it where it belongs.
	// Byte-compiling Python (most of its time on a large image) runs in
	// a lane of its own beside the other commands (and, DeferredBeside,
	// beside dpkg's configuring too): each compiler call writes only the
	// caches of the files it names, so the order between the lanes does
	// not matter; within each, the order met is kept.
	// A cache remover (py3clean) keeps everything in one lane, in order.
	var python, other []Command
	split := true
	for _, c := range p.Deferred {
		if len(c.Args) == 0 || !strings.HasPrefix(c.Dir, "/") {
			return "", fmt.Errorf("deferred command %q in %q: want a command and an absolute directory", c.Args, c.Dir)
		}
		if strings.HasSuffix(path.Base(c.Args[0]), "clean") {
			split = false
		}
	}
	for _, c := range p.Deferred {
		if split && pythonCompiler(c.Args[0]) {
			python = append(python, c)
		} else {
			other = append(other, c)
		}
	}
	emit := func(c Command) {
		q := make([]string, len(c.Args))
		for i, a := range c.Args {
			q[i] = shellQuote(a)
		}
		fmt.Fprintf(&b, "\tif ! (cd %s && %s) </dev/null; then\n", shellQuote(c.Dir), strings.Join(q, " "))
		fmt.Fprintf(&b, "\t\techo \"debstrap second stage: the deferred command failed: \"%s >&2\n\tfi\n", shellQuote(strings.Join(c.Args, " ")))
	}
	b.WriteString("python_lane=\n")
	b.WriteString("deferred_wait() {\n\tif [ -n \"$python_lane\" ]; then wait \"$python_lane\" || true; python_lane=; fi\n}\n")
	b.WriteString("deferred() {\n\t:\n")
	if len(python) > 0 {
		b.WriteString("\t(\n\t:\n")
		for _, c := range python {
			emit(c)
		}
		b.WriteString("\t) &\n\tpython_lane=$!\n")
	}
	for _, c := range other {
		emit(c)
	}
	if !p.DeferredBeside {
		b.WriteString("\tdeferred_wait\n")
	}
	b.WriteString("}\n")
	b.WriteString(scriptBody)
	return b.String(), nil
}

// scriptBody is POSIX sh; it only uses what Essential packages provide
// (dpkg, coreutils, grep, sed).
const scriptBody = `cd /
if [ "$(id -u)" != 0 ]; then
	echo "debstrap second stage: must run as root (chroot ROOT $0)" >&2
	exit 1
fi
if [ -n "$bare" ]; then
	# Run by hand in a bare chroot: the basic device nodes, as
	# debootstrap's second stage makes them, before anything redirects
	# to /dev/null.
	for d in "null 1 3" "zero 1 5" "full 1 7" "random 1 8" "urandom 1 9" "tty 5 0" "console 5 1"; do
		set -- $d
		if [ -d /dev ] && [ ! -c "/dev/$1" ]; then
			rm -f "/dev/$1"
			mknod "/dev/$1" c "$2" "$3" && chmod 666 "/dev/$1" || true
		fi
	done
fi
admin=/var/lib/dpkg

proc=
policy=
ssd=
restore() {
	if [ -n "$ssd" ]; then mv -f "$ssd.REAL" "$ssd"; fi
	if [ -n "$policy" ]; then rm -f /usr/sbin/policy-rc.d; fi
	if [ -n "$proc" ]; then umount /proc || true; fi
	rm -rf "$admin/tmp.ci"
}
trap restore EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ -n "$bare" ] && [ ! -e /proc/self ] && command -v mount >/dev/null 2>&1; then
	if mount -t proc proc /proc 2>/dev/null; then proc=1; fi
fi

# Keep daemons from starting, as debootstrap and mmdebstrap do.
if [ -d /usr/sbin ] && [ ! -e /usr/sbin/policy-rc.d ] && [ ! -L /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
	chmod 755 /usr/sbin/policy-rc.d
	policy=1
fi
for f in /usr/sbin/start-stop-daemon /sbin/start-stop-daemon; do
	if [ -f "$f" ] && [ ! -e "$f.REAL" ]; then
		mv "$f" "$f.REAL"
		ssd=$f
		printf '#!/bin/sh\necho "Warning: Fake start-stop-daemon called, doing nothing" >&2\n' >"$f"
		chmod 755 "$f"
		break
	fi
done

# listed NAME LIST: whether package NAME (maybe NAME:ARCH) is in LIST.
listed() {
	for l in $2; do
		case "$1" in
		"$l" | "$l":*) return 0 ;;
		esac
	done
	return 1
}

# The packages still unpacked: Essential first, each part in unpack order.
unpacked=$(dpkg-query -W -f='${binary:Package} ${Status}\n' | while read -r p want flag st; do
	if [ "$st" = unpacked ]; then echo "$p"; fi
done)
pending=
for p in $order; do
	for q in $unpacked; do
		case "$q" in
		"$p" | "$p":*)
			if ! listed "$q" "$pending"; then pending="$pending $q"; fi
			;;
		esac
	done
done
for q in $unpacked; do
	if ! listed "$q" "$pending"; then pending="$pending $q"; fi
done
first=
rest=
for q in $pending; do
	if listed "$q" "$essential"; then first="$first $q"; else rest="$rest $q"; fi
done

dpkgver=$(dpkg-query -W -f='${Version}' dpkg)
if [ -n "$state" ]; then mkdir -p "$state"; touch "$state/preinst-done"; fi

# finish_unpack PKG…: what dpkg --unpack does beyond placing the files.
finish_unpack() {
	for q do
		if [ -z "$allwork" ] && ! listed "$q" "$work"; then continue; fi
		if [ -n "$state" ] && grep -qxF "$q" "$state/preinst-done"; then continue; fi
		# dpkg unpacks a new conffile as NAME.dpkg-new and records
		# "newconffile"; dpkg --configure then puts it in place and
		# records its hash.
		dpkg-query -W -f='${Conffiles}\n' "$q" | while read -r f hash flags; do
			if [ -z "$f" ] || [ "$hash" != newconffile ]; then continue; fi
			case " $flags " in *" remove-on-upgrade "* | *" obsolete "*) continue ;; esac
			if [ -e "$f.dpkg-new" ] || [ -L "$f.dpkg-new" ]; then continue; fi
			if [ -e "$f" ] || [ -L "$f" ]; then mv -f "$f" "$f.dpkg-new"; fi
		done
		# dpkg runs a new package's preinst from its control area,
		# tmp.ci (debconf finds the package's name, templates and config
		# script there).
		if [ -f "$admin/info/$q.preinst" ] && ! listed "$q" "$preinst_done"; then
			ci="$admin/tmp.ci"
			rm -rf "$ci"
			mkdir "$ci"
			for f in "$admin/info/$q".*; do
				m=${f#"$admin/info/$q".}
				case "$m" in list | *.*) continue ;; esac
				cp -p "$f" "$ci/$m"
			done
			dpkg-query -s "$q" | sed -e '/^Status: /d' >"$ci/control"
			if [ ! -x "$ci/preinst" ]; then chmod 755 "$ci/preinst"; fi
			arch=$(dpkg-query -W -f='${Architecture}' "$q")
			rc=0
			DPKG_MAINTSCRIPT_PACKAGE=${q%%:*} DPKG_MAINTSCRIPT_PACKAGE_REFCOUNT=1 \
				DPKG_MAINTSCRIPT_ARCH=$arch DPKG_MAINTSCRIPT_NAME=preinst \
				DPKG_MAINTSCRIPT_DEBUG=0 DPKG_RUNNING_VERSION=$dpkgver \
				DPKG_ADMINDIR=$admin DPKG_ROOT= DPKG_FORCE=security-mac,downgrade \
				"$ci/preinst" install </dev/null || rc=$?
			rm -rf "$ci"
			if [ "$rc" != 0 ]; then
				echo "debstrap second stage: $q: preinst install failed with exit status $rc" >&2
				exit 1
			fi
		fi
		if [ -n "$state" ]; then echo "$q" >>"$state/preinst-done"; fi
	done
}

# unconfigured LIST…: those of LIST not configured yet, each once, in order.
unconfigured() {
	installed=" "
	for l in $(dpkg-query -W -f='${binary:Package}=${db:Status-Status}\n'); do
		case "$l" in *=installed) installed="$installed${l%=installed} " ;; esac
	done
	out=" "
	for q do
		case "$installed" in *" $q "* | *" $q:"*) continue ;; esac
		case "$out" in *" $q "*) continue ;; esac
		out="$out$q "
	done
	echo $out
}

# As mmdebstrap: the Essential set first, then everything else. Each part
# in the order a whole dpkg run would have configured it, when native
# mode (--mode=auto) found it: a run over only what native left would
# defer fewer, and what the scripts make (ids, files that another
# package's script creates when missing) would come out otherwise.
finish_unpack $first
if [ -n "$first" ]; then
	todo=$(unconfigured $first_order $first)
	if [ -n "$todo" ]; then dpkg --force-configure-any --configure $todo </dev/null; fi
fi
finish_unpack $rest
# What native mode met in the scripts of the packages it configured, but
# left to this run: where a whole dpkg run would have run it, before the
# packages native left are configured.
deferred
todo=
for q in $rest_order; do todo=1; break; done
if [ -n "$todo" ]; then
	todo=$(unconfigured $rest_order)
	if [ -n "$todo" ]; then dpkg --configure $todo </dev/null; fi
fi
dpkg --configure -a </dev/null
deferred_wait

restore
ssd= policy= proc=
if [ -n "$cleanup" ]; then
	# What mmdebstrap's cleanup removes.
	for f in $cleanup_files; do rm -f "/$f"; done
	if [ -e /etc/machine-id ]; then rm -f /etc/machine-id; : >/etc/machine-id; fi
	for f in /run/* /run/.[!.]* /tmp/* /tmp/.[!.]*; do
		if [ "$f" = /run/lock ] || { [ ! -e "$f" ] && [ ! -L "$f" ]; }; then continue; fi
		rm -rf "$f"
	done
fi
if [ -n "$state" ]; then rm -rf "$state"; fi
`

// pythonCompiler: a deferred command that byte-compiles Python modules
// (py3compile, pypy3compile, or the interpreter running py_compile or
// compileall).
func pythonCompiler(arg0 string) bool {
	return pythonRE.MatchString(path.Base(arg0))
}

var pythonRE = regexp.MustCompile(`^(py3compile|pypy3compile|python3(\.[0-9]+)?)$`)
