#!/usr/bin/env bash
# e2e: a hostile package (a local .deb, --include=PATH) whose postinst
# tries the doors out of the image: the roots and cwds of PID 1 and of
# itself, writes through them, and chroot(2) again from a subdirectory
# (perl's chroot, the classic escape). Built in unshare mode as an
# unprivileged user, in root mode as root, and in native mode: none may
# read or write the host's marker file; in the exec modes PID 1 must be
# the image's own shell.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

work=$(mktemp -d /var/tmp/debstrap-e2e-hostile.XXXXXX)
chmod 755 "$work"
mkdir "$work/out"
cleanup() { [ -n "${E2E_KEEP:-}" ] || rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
user=${E2E_USER:-dsbuild}
if ! id "$user" >/dev/null 2>&1; then useradd -m "$user"; fi
home=$(getent passwd "$user" | cut -d: -f6)
chown "$user" "$work/out"
marker=$work/host-marker
echo host > "$marker"
chmod 644 "$marker"

pkg=$work/pkg
mkdir -p "$pkg/DEBIAN"
cat > "$pkg/DEBIAN/control" <<CTL
Package: debstrap-e2e-hostile
Version: 1
Architecture: all
Maintainer: debstrap e2e <e2e@invalid>
Description: tries to leave the image from its postinst
CTL
cat > "$pkg/DEBIAN/postinst" <<SCRIPT
#!/bin/sh
MARKER=$marker
out=/var/lib/hostile.out
: >\$out
for p in /proc/1/root /proc/self/root /proc/1/cwd /proc/self/cwd; do
	if cat "\$p\$MARKER" >/dev/null 2>&1; then echo "read \$p\$MARKER" >>\$out; fi
	if (echo x >"\$p\$MARKER.w") 2>/dev/null; then echo "wrote \$p\$MARKER.w" >>\$out; fi
done
if [ -x /usr/bin/perl ]; then
	M=\$MARKER perl -e 'mkdir "/tmp/esc"; chroot "/tmp/esc" or exit 0; chdir ".." for 1..64; chroot "." or exit 0;
		if (open(my \$f, "<", "\$ENV{M}")) { print "escaped\n" }' 2>/dev/null |
		grep -q escaped && echo "chroot escape" >>\$out
	rmdir /tmp/esc 2>/dev/null
fi
echo "pid1 \$(readlink /proc/1/exe 2>/dev/null)" >>\$out
exit 0
SCRIPT
chmod 755 "$pkg/DEBIAN/postinst"
deb=$work/debstrap-e2e-hostile_1_all.deb
dpkg-deb --root-owner-group -Zxz --build "$pkg" "$deb" >/dev/null
chmod 644 "$deb"

# check MODE WHO: build minbase + the hostile package, look at its record.
check() {
  local mode=$1 who=$2 t=$work/out/$1.tar log=$work/$1.log rc
  if [ "$who" = root ]; then
    "$DEBSTRAP" build -q --variant=minbase --mode="$mode" --include="$deb" bookworm "$t" > "$log" 2>&1; rc=$?
  else
    runuser -u "$who" -- env HOME="$home" XDG_CACHE_HOME="$home/.cache" \
      "$DEBSTRAP" build -q --variant=minbase --mode="$mode" --include="$deb" bookworm "$t" > "$log" 2>&1; rc=$?
  fi
  if [ "$rc" != 0 ]; then bad "$mode as $who: build failed: $(tail -3 "$log")"; return; fi
  local rec
  rec=$(tar -xOf "$t" ./var/lib/hostile.out 2>/dev/null)
  if [ -e "$marker.w" ]; then bad "$mode as $who: the postinst wrote the host's $marker.w"; rm -f "$marker.w"; fi
  if [ "$(cat "$marker")" != host ]; then bad "$mode as $who: the host's marker changed"; echo host > "$marker"; fi
  if echo "$rec" | grep -q -e '^read' -e '^wrote' -e '^chroot'; then
    bad "$mode as $who: the postinst reached the host: $(echo "$rec" | grep -v '^pid1' | tr '\n' ';')"
  else ok "$mode as $who: no door out of the image (/proc/1/root, /proc/self/root, cwds, chroot escape)"; fi
  if [ "$mode" != native ]; then
    case "$rec" in
      *"pid1 /"*dash*) ok "$mode as $who: PID 1 of the scripts is the image's shell" ;;
      *) bad "$mode as $who: PID 1 is not the image's shell: $(echo "$rec" | grep pid1)" ;;
    esac
  fi
  rm -f "$t"
}

step "a hostile package's postinst"
check unshare "$user"
check root root
check native "$user"
summary
