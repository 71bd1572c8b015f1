#!/usr/bin/env bash
# e2e: customizing as with mmdebstrap. A customize hook that runs
# `chroot "$1" apt-get install -y curl` (root mode as root, unshare mode as
# the unprivileged user); special hooks as the user; --dpkgopt's
# path-exclude (no man page, dpkg --verify lists only what was excluded);
# --merged-usr against debootstrap's own package list.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/image.sh"

d=$work/customize
mkdir -p "$d" && chown "$user" "$d"
hook='chroot "$1" apt-get install -y -q curl > /dev/null'

step "customize hook: apt-get install curl inside the root"
t0=$SECONDS
if "$DEBSTRAP" build -q --mode=root --variant=minbase --customize-hook="$hook" bookworm "$d/root.tar" "$DM" > "$d/root.log" 2>&1 &&
  tar -tf "$d/root.tar" ./usr/bin/curl >/dev/null 2>&1; then
  ok "root mode (as root): curl installed by the hook ($((SECONDS-t0))s)"
else bad "root mode hook: $(tail -3 "$d/root.log")"; fi
t0=$SECONDS
if as_user "$DEBSTRAP" build -q --mode=unshare --variant=minbase --customize-hook="$hook" \
    --customize-hook='echo "$DEBSTRAP_HOOK $DEBSTRAP_MODE" > "$1/etc/hook-was-here"' bookworm "$d/unshare.tar" "$DM" > "$d/unshare.log" 2>&1 &&
  tar -tf "$d/unshare.tar" ./usr/bin/curl >/dev/null 2>&1; then
  ok "unshare mode (as $user): curl installed by the hook ($((SECONDS-t0))s)"
else bad "unshare mode hook: $(tail -3 "$d/unshare.log")"; fi
owner=$(tar -tvf "$d/unshare.tar" --numeric-owner ./etc/hook-was-here 2>/dev/null | awk '{print $2}')
[ "$owner" = 0/0 ] && [ "$(tar -xOf "$d/unshare.tar" ./etc/hook-was-here)" = "customize unshare" ] &&
  ok "what the hook made is root's, and it saw DEBSTRAP_HOOK and DEBSTRAP_MODE" || bad "hook file: owner $owner"
left=$(tar -tf "$d/unshare.tar" | grep -E '^\./var/lib/apt/lists/[^/]+_|^\./var/cache/apt/.*\.(bin|deb)$|^\./etc/resolv.conf$' | head -3)
[ -z "$left" ] && ok "apt's lists, caches and the lent resolv.conf are gone after the hooks" || bad "left after the hooks: $left"
dir=$d/unshare.root; mkdir -p "$dir" && tar -C "$dir" --numeric-owner -xpf "$d/unshare.tar" && check_root hooked "$dir"

step "special hooks as $user"
mkdir -p "$d/in/tree" && echo hello > "$d/in/tree/greeting" && chmod 640 "$d/in/tree/greeting" && chown -R "$user" "$d/in"
if as_user "$DEBSTRAP" build -q --mode=native --variant=minbase --customize-hook="copy-in $d/in/tree /opt" \
    --customize-hook="tar-out /etc $d/etc.tar" bookworm "$d/special.tar" "$DM" > "$d/special.log" 2>&1 &&
  [ "$(tar -tvf "$d/special.tar" --numeric-owner ./opt/tree/greeting | awk '{print $1, $2}')" = "-rw-r----- 0/0" ] &&
  tar -tvf "$d/etc.tar" --numeric-owner ./shadow | grep -q ' 0/42 '; then
  ok "copy-in: root's with the host's mode; tar-out: /etc/shadow root:shadow (0/42)"
else bad "special hooks: $(tail -3 "$d/special.log")"; fi

step "--dpkgopt path-exclude"
if as_user "$DEBSTRAP" build -q --variant=minbase --dpkgopt='path-exclude=/usr/share/man/*' bookworm "$d/noman.tar" "$DM" > "$d/noman.log" 2>&1; then
  n=$(tar -tf "$d/noman.tar" | grep -c '^\./usr/share/man/.*\.gz$')
  [ "$n" = 0 ] && ok "no man page in the image" || bad "$n man pages in the image"
  dir=$d/noman.root; mkdir -p "$dir" && tar -C "$dir" --numeric-owner -xpf "$d/noman.tar"
  other=$(chroot "$dir" dpkg --verify 2>&1 | grep -v -e ' c /' -e '^missing  *c\? */usr/share/man/' | head -3)
  nmissing=$(chroot "$dir" dpkg --verify 2>&1 | grep -c '^missing .*/usr/share/man/')
  [ -z "$other" ] && [ "$nmissing" -gt 0 ] &&
    ok "dpkg --verify lists only the $nmissing excluded man paths as missing, as after dpkg's own filtering" ||
    bad "dpkg --verify: $other"
else bad "--dpkgopt: $(tail -3 "$d/noman.log")"; fi

step "--merged-usr against debootstrap"
if as_user "$DEBSTRAP" build -q --merged-usr --variant=minbase bookworm "$d/merged.tar" "$DM" > "$d/merged.log" 2>&1; then
  got=$(tar -xOf "$d/merged.tar" ./var/lib/dpkg/status | sed -n 's/^Package: //p' | sort)
  ok "bookworm --merged-usr minbase: $(echo "$got" | wc -l) packages, $(echo "$got" | grep -c '^usrmerge$') usrmerge, $(echo "$got" | grep -c '^usr-is-merged$') usr-is-merged"
  if command -v debootstrap >/dev/null; then
    want=$(debootstrap --print-debs --variant=minbase bookworm "$d/dbs" "$DM" 2>/dev/null | tr ' ' '\n' | grep -v '^$' | sort)
    if [ -n "$want" ] && [ "$got" = "$want" ]; then ok "the same package set as debootstrap --variant=minbase ($(echo "$want" | wc -l))"
    else bad "differs from debootstrap's: $(diff <(echo "$got") <(echo "$want") | grep '^[<>]' | head -6 | tr '\n' ' ')"; fi
  fi
  tar -tvf "$d/merged.tar" ./bin | grep -q -- '-> usr/bin' && ok "/bin -> usr/bin" || bad "/bin is not a link to usr/bin"
  dir=$d/merged.root; mkdir -p "$dir" && tar -C "$dir" --numeric-owner -xpf "$d/merged.tar" && check_root merged "$dir"
else bad "--merged-usr: $(tail -3 "$d/merged.log")"; fi

summary
