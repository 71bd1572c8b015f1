#!/bin/sh
# resolve-oracle.sh — the package set mmdebstrap would install, computed by
# the host's apt itself. It is the reference the resolve package is checked
# against (see resolve/oracle_test.go and resolve/internal/resolvedump).
#
# Usage:
#   resolve-oracle.sh [-v VARIANT] [-a ARCH] [-f FOREIGN,...] [-c COMP,...]
#                     [-i PKG,...] [-r] SUITE MIRRORDIR [SUITE[@MIRRORDIR]...]
#
#   MIRRORDIR is a local tree laid out like an archive:
#     MIRRORDIR/dists/SUITE/InRelease (or Release)
#     MIRRORDIR/dists/SUITE/COMP/binary-ARCH/Packages   (uncompressed)
#   The first SUITE is the one mmdebstrap takes Essential:yes and Priority
#   from; further suites (e.g. SUITE-updates) are extra sources, on the same
#   mirror unless given as SUITE@DIR.
#
# Output: "name version arch" per package, sorted by name then arch.
#
# What it reproduces (mmdebstrap 1.3.5, run_download and run_install):
#   stage 1: apt-get install '?narrow(?or(?archive(^S$),?codename(^S$)),
#            ?architecture(ARCH),?essential)' into an empty status file
#            (extract/custom: apt-get install INCLUDES; apt: dist-upgrade);
#   stage 2: with the stage-1 set recorded as installed, apt-get install
#            INCLUDES [build-essential], the Priority pattern of the variant
#            and apt. "apt" is added for required/buildd/important/standard:
#            mmdebstrap's pattern misses it where apt is not
#            Priority: required (Ubuntu); debootstrap and mmdebstrap's manual
#            include it.
# Only simulation is run (apt-get -s): no root needed, nothing is downloaded.
# If apt decides but cannot order the unpacking (only seen with contrived
# archives), the set is taken from apt's "NEW packages" list instead.
#
# To check debstrap's resolver, run both on the same arguments:
#   diff <(e2e/resolve-oracle.sh ARGS) <(go run ./resolve/internal/resolvedump ARGS)
# or, for several cases at once:
#   DEBSTRAP_ORACLE_CASES='ARGS...' go test ./resolve/ -run OracleMirror -v
# RESOLVE_ORACLE_APT_OPTS="-o Debug::pkgDepCache::Marker=1" shows apt's trace;
# RESOLVE_ORACLE_KEEP=1 keeps the work directory.
set -eu

variant=debootstrap
arch=
foreign=
components=main
include=
recommends=false

usage() { sed -n '2,38p' "$0" >&2; exit 2; }

while getopts v:a:f:c:i:rh opt; do
	case $opt in
	v) variant=$OPTARG ;;
	a) arch=$OPTARG ;;
	f) foreign=$OPTARG ;;
	c) components=$OPTARG ;;
	i) include=$OPTARG ;;
	r) recommends=true ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# -ge 2 ] || usage
suite=$1
mirror=$(cd "$2" && pwd)
shift 2
[ -n "$arch" ] || arch=$(dpkg --print-architecture)

case $variant in
debootstrap | -) variant=important ;;
minbase) variant=required ;;
extract | custom | essential | apt | required | buildd | important | standard) ;;
*) echo "resolve-oracle: unknown variant $variant" >&2; exit 2 ;;
esac

# apt escapes unusual characters when it names list files; keep every path
# it sees plain.
base=${TMPDIR:-/tmp}
case $base in *[!A-Za-z0-9/.-]*) base=/tmp ;; esac
tmp=$(mktemp -d "$base/resolve-oracle.XXXXXX")
# RESOLVE_ORACLE_KEEP=1 keeps the work directory for debugging.
if [ -z "${RESOLVE_ORACLE_KEEP:-}" ]; then trap 'rm -rf "$tmp"' EXIT INT TERM; else echo "resolve-oracle: keeping $tmp" >&2; fi
root=$tmp/root
mkdir -p "$root/etc/apt/apt.conf.d" "$root/etc/apt/preferences.d" \
	"$root/etc/apt/sources.list.d" "$root/etc/apt/trusted.gpg.d" \
	"$root/var/lib/apt/lists/partial" "$root/var/cache/apt/archives/partial" \
	"$root/var/lib/dpkg" "$root/var/log/apt"
: >"$root/var/lib/dpkg/status"

# Mirrors are reached through links with plain names (see above).
nmirrors=0
mirrorlink() { # DIR: sets $link to the plain path to use for it
	nmirrors=$((nmirrors + 1))
	link=$tmp/mirror$nmirrors
	ln -s "$1" "$link"
}
mirrorlink "$mirror"
mirror=$link
extra=
for s in "$@"; do
	case $s in
	*@*)
		mirrorlink "$(cd "${s#*@}" && pwd)"
		extra="$extra ${s%@*}@$link"
		;;
	*) extra="$extra $s" ;;
	esac
done
# shellcheck disable=SC2086
set -- $extra

archs="\"$arch\";"
for a in $(echo "$foreign" | tr ',' ' '); do archs="$archs \"$a\";"; done
comps=$(echo "$components" | tr ',' ' ')

# One sources line per suite, in command-line order, like mmdebstrap writes
# them; file: mirrors are used in place.
{
	echo "deb [trusted=yes] file:$mirror $suite $comps"
	for s in "$@"; do
		case $s in
		*@*) echo "deb [trusted=yes] file:${s#*@} ${s%@*} $comps" ;;
		*) echo "deb [trusted=yes] file:$mirror $s $comps" ;;
		esac
	done
} >"$root/etc/apt/sources.list"

conf=$tmp/apt.conf
cat >"$conf" <<EOF
Dir "$root/";
Dir::Etc::Parts "$root/etc/apt/apt.conf.d";
Dir::State::Status "$root/var/lib/dpkg/status";
APT::Architecture "$arch";
APT::Architectures { $archs };
Apt::Install-Recommends "$recommends";
Acquire::Languages "none";
Acquire::Check-Valid-Until "false";
Acquire::AllowInsecureRepositories "true";
Acquire::IndexTargets::deb::Contents-deb::DefaultEnabled "false";
Acquire::IndexTargets::deb::DEP-11::DefaultEnabled "false";
Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled "false";
Acquire::IndexTargets::deb::DEP-11-icons-small::DefaultEnabled "false";
Acquire::IndexTargets::deb::CNF::DefaultEnabled "false";
Debug::NoLocking "true";
// only the package set matters here, not whether dpkg could be ordered
APT::Immediate-Configure "false";
APT::Sandbox::User "root";
EOF
if [ "$variant" != apt ]; then
	# as mmdebstrap: apt is not implicitly Essential
	echo 'pkgCacheGen::ForceEssential ",";' >>"$conf"
fi
export APT_CONFIG="$conf"

# No "apt-get update": the indexes are linked into the lists directory
# under the names apt gives them, so exactly these files are used (update
# would fetch the compressed variants Release lists first).
lists=$root/var/lib/apt/lists
linklists() { # DIR SUITE
	d=$1/dists/$2
	m=$(echo "$d" | sed 's,^/,,; s,/,_,g')
	if [ -f "$d/InRelease" ]; then
		ln -s "$d/InRelease" "$lists/_${m}_InRelease"
	elif [ -f "$d/Release" ]; then
		ln -s "$d/Release" "$lists/_${m}_Release"
	else
		echo "resolve-oracle: no InRelease or Release in $d" >&2
		exit 1
	fi
	found=
	for c in $comps; do
		for a in $arch $(echo "$foreign" | tr ',' ' '); do
			if [ -f "$d/$c/binary-$a/Packages" ]; then
				ln -s "$d/$c/binary-$a/Packages" "$lists/_${m}_${c}_binary-${a}_Packages"
				found=1
			fi
		done
	done
	[ -n "$found" ] || { echo "resolve-oracle: no Packages under $d" >&2; exit 1; }
}
linklists "$mirror" "$suite"
for s in "$@"; do
	case $s in
	*@*) linklists "${s#*@}" "${s%@*}" ;;
	*) linklists "$mirror" "$s" ;;
	esac
done

# simulate ARGS... → "name version arch" of each Inst line; Remv lines are
# echoed as "-name" so a removal of a stage-1 package can be applied.
simulate() {
	# RESOLVE_ORACLE_APT_OPTS: extra apt-get options, e.g.
	# "-o Debug::pkgDepCache::Marker=1" (its output goes to stderr).
	# shellcheck disable=SC2086
	if apt-get -s -y -V -o APT::Get::Show-User-Simulation-Note=false ${RESOLVE_ORACLE_APT_OPTS:-} "$@" >"$tmp/sim.log" 2>&1; then
		[ -z "${RESOLVE_ORACLE_APT_OPTS:-}" ] || grep -v '^Inst \|^Conf ' "$tmp/sim.log" >&2
		sed -n -e 's/^Inst \([^ ]*\) \(\[[^]]*\] \)\{0,1\}(\([^ ]*\) .*\[\([^]]*\)\]).*$/\1 \3 \4/p' \
			-e 's/^Remv \([^ ]*\) .*/-\1/p' "$tmp/sim.log" | sed 's/^\([^ :]*\):[^ ]* /\1 /'
		return
	fi
	# apt decided (it printed its summary) but could not order the
	# unpacking (e.g. "Could not configure"): the set is still apt's;
	# take it from the NEW list.
	if grep -q '^[0-9]* upgraded, [0-9]* newly installed' "$tmp/sim.log"; then
		echo "resolve-oracle: apt could not order the installation; using its NEW list" >&2
		[ -z "${RESOLVE_ORACLE_APT_OPTS:-}" ] || cat "$tmp/sim.log" >&2
		awk '/^The following NEW packages will be installed:/ { on = 1; next }
			/^[^ ]/ { on = 0 }
			on { print }' "$tmp/sim.log" | sed -n 's/^ *\([^ ]*\) (\(.*\))$/\1 \2/p' |
			while read -r name version; do
				a=${name#*:}
				[ "$a" = "$name" ] && a=$arch
				n=${name%%:*}
				printf '%s %s %s\n' "$n" "$version" \
					"$(apt-cache show "$n:$a=$version" | sed -n 's/^Architecture: //p' | head -n 1)"
			done
		return
	fi
	cat "$tmp/sim.log" >&2
	echo "resolve-oracle: apt-get -s $* failed" >&2
	exit 1
}

split() { echo "$1" | tr ',' ' '; }
pattern() {
	printf '?narrow(?or(?archive(^%s$),?codename(^%s$)),?architecture(%s),%s)' \
		"$suite" "$suite" "$arch" "$1"
}

case $variant in
extract | custom)
	if [ -n "$include" ]; then
		# shellcheck disable=SC2046
		simulate install $(split "$include") >"$tmp/stage1"
	else
		: >"$tmp/stage1"
	fi
	;;
apt) simulate dist-upgrade >"$tmp/stage1" ;;
*) simulate install "$(pattern '?essential')" >"$tmp/stage1" ;;
esac

second=$(split "$include")
case $variant in
buildd) second="$second build-essential $(pattern '?and(?priority(required),?not(?essential))') apt" ;;
required) second="$second $(pattern '?and(?priority(required),?not(?essential))') apt" ;;
important) second="$second $(pattern '?and(?or(?priority(required),?priority(important)),?not(?essential))') apt" ;;
standard) second="$second $(pattern '?and(?or(~prequired,~pimportant,~pstandard),?not(?essential))') apt" ;;
extract | custom) second= ;;
esac

: >"$tmp/stage2"
if [ -n "$(echo "$second" | tr -d ' ')" ]; then
	# Record the stage-1 set as installed, as dpkg would after mmdebstrap's
	# essential step, then let apt add the rest on top.
	if [ -s "$tmp/stage1" ]; then
		# shellcheck disable=SC2046
		apt-cache show $(awk '{ a = ($3 == "all") ? "'"$arch"'" : $3; print $1 ":" a "=" $2 }' "$tmp/stage1") |
			awk 'BEGIN { seen = "" }
			/^Package: / { key = $2 }
			/^Architecture: / { key = key " " $2 }
			/^Version: / { key = key " " $2 }
			{ buf = buf $0 "\n" }
			/^$/ { if (!(key in done)) { done[key] = 1; sub(/\n/, "\nStatus: install ok installed\n", buf); printf "%s", buf } buf = ""; key = "" }
			END { if (buf != "" && !(key in done)) { sub(/\n/, "\nStatus: install ok installed\n", buf); printf "%s\n", buf } }' \
			>"$root/var/lib/dpkg/status"
	fi
	# shellcheck disable=SC2086
	set -f
	simulate install $second >"$tmp/stage2"
	set +f
fi

# stage 2 first: if it upgraded a stage-1 package, its version wins.
{
	grep -v '^-' "$tmp/stage2" || true
	grep -v '^-' "$tmp/stage1" || true
} | awk -v rm="$(grep '^-' "$tmp/stage2" | sed 's/^-//' | tr '\n' ' ')" -v native="$arch" '
	# a removal names "pkg" (native architecture) or "pkg:arch"
	BEGIN { n = split(rm, r, " "); for (i = 1; i <= n; i++) { if (r[i] !~ /:/) r[i] = r[i] ":" native; gone[r[i]] = 1 } }
	{ a = ($3 == "all") ? native : $3 }
	!(($1 ":" a) in gone)' | LC_ALL=C sort -s -u -k1,1 -k3,3
