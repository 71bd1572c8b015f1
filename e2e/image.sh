# Shared by the image checks (build.sh, native.sh), after lib.sh: a work
# directory, the unprivileged builder, and the checks of a working system.

work=${E2E_WORK:-$(mktemp -d /var/tmp/debstrap-e2e.XXXXXX)}
chmod 755 "$work"
trap '[ -n "${E2E_KEEP:-}" ] || { umount_all; rm -rf "$work"; }' EXIT
arch=$(dpkg --print-architecture)
DM=$(debian_mirror)
UM=$(ubuntu_mirror)
user=${E2E_USER:-dsbuild}
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1700000000}

mounts=()
umount_all() { local m; for m in "${mounts[@]}"; do umount -l "$m" 2>/dev/null; done; mounts=(); }

# The unprivileged builder, with a subordinate id range for unshare mode.
if ! id "$user" >/dev/null 2>&1; then useradd -m "$user"; fi
uid=$(id -u "$user")
grep -q "^$user:" /etc/subuid 2>/dev/null || echo "$user:300000:65536" >> /etc/subuid
grep -q "^$user:" /etc/subgid 2>/dev/null || echo "$user:300000:65536" >> /etc/subgid
chown "$user" "$work"

as_user() { su -s /bin/bash "$user" -c "$(printf '%q ' env SOURCE_DATE_EPOCH="$SOURCE_DATE_EPOCH" "$@")"; }

# check_root NAME DIR: the checks of a working base system.
check_root() {
  local name=$1 dir=$2 out
  mount --bind /proc "$dir/proc" && mounts+=("$dir/proc")
  cp /etc/resolv.conf "$dir/etc/resolv.conf" 2>/dev/null
  if chroot "$dir" /bin/sh -c 'getent passwd root >/dev/null && echo x | awk "{print}" >/dev/null && ldconfig -p | grep -q libc.so.6'; then
    ok "$name: chroot runs /bin/sh, getent, awk, ldconfig -p"
  else bad "$name: chroot checks"; fi
  out=$(chroot "$dir" dpkg --audit 2>&1)
  if [ -z "$out" ]; then ok "$name: dpkg --audit is silent"; else bad "$name: dpkg --audit: $(echo "$out" | head -5)"; fi
  out=$(chroot "$dir" dpkg --verify 2>&1 | grep -v ' c /' || true)
  if [ -z "$out" ]; then ok "$name: dpkg --verify reports nothing but conffiles"; else bad "$name: dpkg --verify: $(echo "$out" | head -5)"; fi
  if chroot "$dir" sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl >/dev/null' >"$work/$name.apt.log" 2>&1; then
    ok "$name: apt-get update && apt-get install curl"
  else bad "$name: apt-get install curl: $(tail -3 "$work/$name.apt.log")"; fi
  umount_all
}

# build_and_check NAME SUITE MIRROR-ARGS...: as the user, build a tar, then
# check it. $FLAGS are the build's flags (default --variant=minbase).
build_and_check() {
  local name=$1 suite=$2; shift 2
  local tar=$work/$name.tar t0=$SECONDS flags
  read -r -a flags <<< "${FLAGS:---variant=minbase}"
  if ! as_user "$DEBSTRAP" build -q "${flags[@]}" "$suite" "$tar" "$@" > "$work/$name.log" 2>&1; then
    bad "$name: build as $user failed: $(tail -5 "$work/$name.log")"; return
  fi
  ok "$name: built as $user in $((SECONDS-t0))s ($(du -h "$tar" | cut -f1))"
  if tar -tvf "$tar" --numeric-owner | awk -v u="$uid" '{split($2,o,"/"); if (o[1]==u || o[2]==u) {print; bad=1}} END {exit bad}' > "$work/$name.owned"; then
    ok "$name: no entry owned by the builder's uid $uid"
  else bad "$name: entries owned by uid $uid: $(head -3 "$work/$name.owned")"; fi
  local dir=$work/$name.root
  mkdir -p "$dir" && tar -C "$dir" --numeric-owner --xattrs --xattrs-include='*' -xpf "$tar" || { bad "$name: tar does not extract as root"; return; }
  ok "$name: tar extracts as root"
  check_root "$name" "$dir"
}
