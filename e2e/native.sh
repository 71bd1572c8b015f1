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

step "arm64 on $(dpkg --print-architecture), no emulator"
if as_user "$DEBSTRAP" build -q --variant=minbase --mode=native --architectures=arm64 bookworm "$work/arm64.tar" "$DM" > "$work/arm64.log" 2>&1; then
  ok "bookworm arm64 minbase built natively"
  mkdir -p "$work/arm64" && tar -C "$work/arm64" --numeric-owner -xpf "$work/arm64.tar"
  out=$(dpkg --root="$work/arm64" --audit 2>&1)
  notinst=$(dpkg-query --admindir="$work/arm64/var/lib/dpkg" -W -f '${db:Status-Status}\n' | grep -vc '^installed$')
  if [ -z "$out" ] && [ "$notinst" = 0 ]; then ok "arm64: host dpkg --root reads every package as installed, --audit silent"
  else bad "arm64: dpkg --audit: $out; not installed: $notinst"; fi
else bad "arm64 native build: $(tail -3 "$work/arm64.log")"; fi

summary
