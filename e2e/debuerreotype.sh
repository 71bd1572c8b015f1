#!/usr/bin/env bash
# e2e/debuerreotype.sh SUITE OUTDIR MIRROR [SECURITY-MIRROR]
#
# Builds the rootfs of Docker's official debian:SUITE and debian:SUITE-slim
# as debuerreotype's examples/debian.sh does, from MIRROR instead of a
# snapshot archive (debuerreotype-init --non-debian; the snapshot-only
# steps written out here): OUTDIR/rootfs.tar and OUTDIR/slim.tar, with
# OUTDIR/epoch. Runs as root (debootstrap).
set -Eeuo pipefail
export TZ=UTC LC_ALL=C
suite=$1 out=$2 mirror=${3%/} security=${4:-}
[ -n "$security" ] || security=${mirror%/*}/debian-security
mkdir -p "$out"
tmp=$(mktemp -d "${TMPDIR:-/var/tmp}/debuerreotype.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
rootfs=$tmp/rootfs

keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[ -s /usr/share/keyrings/debian-archive-keyring.pgp ] && keyring=/usr/share/keyrings/debian-archive-keyring.pgp
debuerreotype-init --non-debian --merged-usr --keyring "$keyring" "$rootfs" "$suite" "$mirror"

# debuerreotype-debian-sources-list --deb822 without its snapshot lookups:
# SUITE and SUITE-updates from the mirror, SUITE-security beside it, the
# keyring the image has (.pgp if it ships one).
sources() {
  local k=/usr/share/keyrings/debian-archive-keyring
  if [ -s "$rootfs$k.pgp" ]; then k=$k.pgp; else k=$k.gpg; fi
  printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: main\nSigned-By: %s\n' "$mirror" "$suite" "$suite" "$k"
  printf '\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: main\nSigned-By: %s\n' "$security" "$suite" "$k"
}
rm -f "$rootfs/etc/apt/sources.list"
sources > "$rootfs/etc/apt/sources.list.d/debian.sources"
chmod 0644 "$rootfs/etc/apt/sources.list.d/debian.sources"

debuerreotype-minimizing-config "$rootfs"
debuerreotype-apt-get "$rootfs" update -qq
debuerreotype-apt-get "$rootfs" full-upgrade -yqq

mkdir "$rootfs-slim"
tar -cC "$rootfs" . | tar -xC "$rootfs-slim"
debuerreotype-slimify "$rootfs-slim"

debuerreotype-tar --exclude ./etc/machine-id "$rootfs" "$out/rootfs.tar"
debuerreotype-tar --exclude ./etc/machine-id "$rootfs-slim" "$out/slim.tar"
cat "$rootfs/debuerreotype-epoch" > "$out/epoch"
debuerreotype-chroot "$rootfs" dpkg-query -W > "$out/rootfs.manifest"
debuerreotype-chroot "$rootfs-slim" dpkg-query -W > "$out/slim.manifest"
