#!/usr/bin/env bash
# e2e: --mode=native, as an unprivileged user that cannot create user
# namespaces: the images must pass the same checks as unshare's and differ
# from them only where docs/fidelity.md says; a foreign architecture builds
# with no emulator.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/image.sh"

# No user namespaces for anyone while this runs: nothing may need them.
old_userns=$(sysctl -n user.max_user_namespaces 2>/dev/null || echo)
restore() { [ -z "${userns_off:-}" ] || sysctl -q -w user.max_user_namespaces="$old_userns"; }
trap 'restore; [ -n "${E2E_KEEP:-}" ] || { umount_all; rm -rf "$work"; }' EXIT
userns_off=
if [ -n "$old_userns" ] && sysctl -q -w user.max_user_namespaces=0 2>/dev/null; then
  userns_off=1
else
  echo "note: user namespaces cannot be disabled here (sysctl refused); native mode is asked for explicitly"
fi

step "native mode, as $user (user namespaces disabled where the host allows)"
FLAGS="--variant=minbase --mode=native" build_and_check native-bookworm bookworm "$DM"
FLAGS="--variant=minbase --mode=native" build_and_check native-trixie trixie "$DM"
FLAGS="--variant=minbase --mode=native" build_and_check native-noble noble "deb $UM noble main universe" "deb $UM noble-updates main universe"
FLAGS="--variant=important --mode=native" build_and_check native-bookworm-important bookworm "$DM"
# auto must fall back to native here
if [ -z "$userns_off" ]; then :
elif as_user "$DEBSTRAP" build -q --variant=minbase bookworm "$work/auto.tar" "$DM" > "$work/auto.log" 2>&1; then
  ok "--mode=auto falls back to native without user namespaces"
else bad "--mode=auto without user namespaces: $(tail -3 "$work/auto.log")"; fi
restore

step "native against unshare"
for suite in bookworm trixie; do
  if as_user "$DEBSTRAP" build -q --variant=minbase --mode=unshare "$suite" "$work/unshare-$suite.tar" "$DM" > "$work/unshare-$suite.log" 2>&1; then
    "$DEBSTRAP" diff --summary "$work/unshare-$suite.tar" "$work/native-$suite.tar" > "$work/native-vs-unshare-$suite.txt" 2>&1
    echo "    $suite: $(head -1 "$work/native-vs-unshare-$suite.txt")"
    ok "$suite: native compared with unshare (native-vs-unshare-$suite.txt)"
  else bad "$suite unshare build: $(tail -3 "$work/unshare-$suite.log")"; fi
done

# qemu_ready ARCH: binfmt runs ARCH's programs here (qemu-user-static).
qemu_ready() {
  local q; case $1 in arm64) q=qemu-aarch64 ;; armhf|armel) q=qemu-arm ;; *) q=qemu-$1 ;; esac
  [ -d /proc/sys/fs/binfmt_misc ] && [ ! -e /proc/sys/fs/binfmt_misc/status ] && mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null
  command -v update-binfmts >/dev/null && update-binfmts --enable "$q" >/dev/null 2>&1
  grep -qx enabled "/proc/sys/fs/binfmt_misc/$q" 2>/dev/null
}

for arch in arm64 armhf; do
  step "$arch on $(dpkg --print-architecture), no emulator"
  if as_user "$DEBSTRAP" build -q --variant=minbase --mode=native --architectures=$arch bookworm "$work/$arch.tar" "$DM" > "$work/$arch.log" 2>&1; then
    ok "bookworm $arch minbase built natively"
    mkdir -p "$work/$arch" && tar -C "$work/$arch" --numeric-owner -xpf "$work/$arch.tar"
    out=$(dpkg --root="$work/$arch" --audit 2>&1)
    notinst=$(dpkg-query --admindir="$work/$arch/var/lib/dpkg" -W -f '${db:Status-Status}\n' | grep -vc '^installed$')
    if [ -z "$out" ] && [ "$notinst" = 0 ]; then ok "$arch: host dpkg --root reads every package as installed, --audit silent"
    else bad "$arch: dpkg --audit: $out; not installed: $notinst"; fi
    # The image's own ldconfig, under qemu-user, must write the same cache.
    if [ "$(id -u)" = 0 ] && qemu_ready "$arch"; then
      cp "$work/$arch/etc/ld.so.cache" "$work/$arch.native-cache"
      if chroot "$work/$arch" /sbin/ldconfig 2>"$work/$arch.ldconfig.err" && cmp -s "$work/$arch.native-cache" "$work/$arch/etc/ld.so.cache"; then
        ok "$arch: /etc/ld.so.cache equal to what the image's ldconfig writes under qemu ($(stat -c %s "$work/$arch.native-cache") bytes)"
      else bad "$arch: /etc/ld.so.cache differs from the image's ldconfig under qemu: $(head -2 "$work/$arch.ldconfig.err")"; fi
    else echo "    $arch: ld.so.cache not compared: qemu-user-static with binfmt_misc is not available here"; fi
  else bad "$arch native build: $(tail -3 "$work/$arch.log")"; fi
done

summary
