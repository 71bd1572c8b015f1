#!/usr/bin/env bash
# e2e: real images built as an unprivileged user (and once as root), checked
# by running them: chroot, dpkg --audit/--verify, apt-get install curl, docker.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

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

# build_and_check NAME SUITE MIRROR-ARGS...: as the user, build a tar, then check it.
build_and_check() {
  local name=$1 suite=$2; shift 2
  local tar=$work/$name.tar t0=$SECONDS
  if ! as_user "$DEBSTRAP" build -q --variant=minbase "$suite" "$tar" "$@" > "$work/$name.log" 2>&1; then
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

step "images built as an unprivileged user"
build_and_check bookworm-minbase bookworm "$DM"
build_and_check trixie-minbase trixie "$DM"
build_and_check noble-minbase noble "deb $UM noble main universe" "deb $UM noble-updates main universe"

step "reproducible"
for fmt in tar oci.tar; do
  # Same file name: the image's tag comes from it.
  mkdir -p "$work/ra" "$work/rb" && chown "$user" "$work/ra" "$work/rb"
  a=$work/ra/repro.$fmt b=$work/rb/repro.$fmt
  as_user "$DEBSTRAP" build -q --variant=minbase bookworm "$a" "$DM" && \
  as_user "$DEBSTRAP" build -q --variant=minbase --cache-dir="$work/cache2" bookworm "$b" "$DM" && \
  if cmp -s "$a" "$b"; then ok "bookworm minbase .$fmt: two builds (warm and cold cache) are byte-identical"; else bad "bookworm minbase .$fmt: builds differ"; fi
done

step "as root"
if "$DEBSTRAP" build -q --variant=minbase bookworm "$work/root-bookworm.tar" "$DM" > "$work/root.log" 2>&1; then
  ok "bookworm minbase built as root"
  mkdir -p "$work/root-bookworm" && tar -C "$work/root-bookworm" --numeric-owner --xattrs --xattrs-include='*' -xpf "$work/root-bookworm.tar"
  check_root root-bookworm "$work/root-bookworm"
else bad "build as root: $(tail -5 "$work/root.log")"; fi

step "fidelity: debstrap vs mmdebstrap"
if command -v mmdebstrap >/dev/null; then
  for suite in bookworm trixie; do
    if mmdebstrap -q --variant=minbase "$suite" "$work/mm-$suite.tar" "$DM" 2> "$work/mm-$suite.log"; then
      "$DEBSTRAP" diff --summary "$work/mm-$suite.tar" "$work/$suite-minbase.tar" > "$work/fidelity-$suite.txt" 2>&1
      echo "    $suite: $(tail -1 "$work/fidelity-$suite.txt")"
      ok "$suite: compared with mmdebstrap (details: fidelity-$suite.txt)"
    else bad "mmdebstrap $suite: $(tail -3 "$work/mm-$suite.log")"; fi
  done
fi

step "docker"
source "$here/docker.sh"
if docker_up; then
  img=debstrap-e2e-bookworm
  if docker import "$work/bookworm-minbase.tar" "$img:tar" >/dev/null && docker run --rm --network=host "$img:tar" cat /etc/os-release | grep -q bookworm; then
    ok "docker import of the tar runs"
  else bad "docker import/run of the tar"; fi
  if docker run --rm --network=host "$img:tar" sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl >/dev/null && curl --version >/dev/null'; then
    ok "docker: apt-get update && apt-get install curl inside the imported image"
  else bad "docker: apt-get install curl"; fi
  for fmt in oci.tar docker.tar; do
    as_user "$DEBSTRAP" build -q --variant=minbase bookworm "$work/img.$fmt" "$DM"
    out=$(docker load -i "$work/img.$fmt" 2>&1 | tail -1)
    ref=${out##*: }
    if [ -n "$ref" ] && docker run --rm --network=host "$ref" bash -c 'cat /etc/debian_version' >/dev/null; then
      ok "docker load of the .$fmt runs ($ref)"
    else bad "docker load/run of the .$fmt: $out"; fi
  done
  as_user "$DEBSTRAP" build -q --variant=minbase bookworm "$work/img.oci" "$DM"
  if skopeo inspect "oci:$work/img.oci" >/dev/null; then ok "skopeo inspect of the OCI layout"; else bad "skopeo inspect"; fi
  if (cd "$work" && umoci unpack --rootless --image img.oci umoci-bundle >/dev/null 2>&1) && [ -x "$work/umoci-bundle/rootfs/usr/bin/bash" ]; then
    ok "umoci unpack of the OCI layout"
  else bad "umoci unpack"; fi
else
  bad "docker: no engine could be started"
fi

summary
