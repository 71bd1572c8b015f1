#!/usr/bin/env bash
# e2e: real images built as an unprivileged user (and once as root), checked
# by running them: chroot, dpkg --audit/--verify, apt-get install curl, docker.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

source "$(dirname "$0")/image.sh"

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
# The same sources (a bare MIRROR: mmdebstrap adds no -updates or security
# suite, so debstrap is told --no-updates) and the same SOURCE_DATE_EPOCH
# (image.sh exports it);
# what may differ is docs/fidelity.md's first table.
fidelity_ignore=(--ignore /etc/hostname --ignore /etc/resolv.conf --ignore /var/lib/dpkg/status-old
  --ignore /var/lib/dpkg/diversions-old --ignore /var/cache/debconf/config.dat-old --ignore /var/cache/debconf/templates.dat-old)
if command -v mmdebstrap >/dev/null; then
  for suite in bookworm trixie; do
    if mmdebstrap -q --variant=minbase "$suite" "$work/mm-$suite.tar" "$DM" 2> "$work/mm-$suite.log" &&
       as_user "$DEBSTRAP" build -q --no-updates --variant=minbase "$suite" "$work/ds-$suite.tar" "$DM" > "$work/ds-$suite.log" 2>&1; then
      if "$DEBSTRAP" diff "${fidelity_ignore[@]}" "$work/mm-$suite.tar" "$work/ds-$suite.tar" > "$work/fidelity-$suite.txt" 2>&1; then
        ok "$suite minbase: debstrap's image equals mmdebstrap's outside docs/fidelity.md's list"
      else
        bad "$suite minbase: debstrap differs from mmdebstrap ($(tail -1 "$work/fidelity-$suite.txt")):"
        grep -v '^ ' "$work/fidelity-$suite.txt" | head -15 | sed 's/^/    /'
      fi
    else bad "mmdebstrap or debstrap $suite: $(tail -3 "$work/mm-$suite.log" "$work/ds-$suite.log")"; fi
    rm -f "$work/mm-$suite.tar" "$work/ds-$suite.tar"
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
