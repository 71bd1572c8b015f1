#!/usr/bin/env bash
# e2e: debstrap's package set equals apt's (the oracle, e2e/resolve-oracle.sh)
# for the same indexes, fetched from the host's mirror in this run.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

work=${E2E_WORK:-$(mktemp -d)}
trap '[ -n "${E2E_KEEP:-}" ] || rm -rf "$work"' EXIT
arch=$(dpkg --print-architecture)
DM=$(debian_mirror)
UM=$(ubuntu_mirror)

# fetch MIRROR DIR SUITE COMPONENTS: a local copy of the suite's indexes, laid
# out as the oracle wants them. Release is checked by apt itself (gpgv).
fetch() {
  local mirror=$1 dir=$2 suite=$3 comps=$4 c
  mkdir -p "$dir/dists/$suite"
  curl -fsS "$mirror/dists/$suite/InRelease" -o "$dir/dists/$suite/InRelease"
  for c in ${comps//,/ }; do
    mkdir -p "$dir/dists/$suite/$c/binary-$arch"
    curl -fsS "$mirror/dists/$suite/$c/binary-$arch/Packages.xz" | xz -dc > "$dir/dists/$suite/$c/binary-$arch/Packages"
  done
}

# compare NAME MIRROR COMPONENTS VARIANT INCLUDE SUITE [EXTRA_SUITE...]
compare() {
  local name=$1 mirror=$2 comps=$3 variant=$4 include=$5 suite=$6; shift 6
  local dir=$work/mirror-$suite args=() s
  [ -d "$dir/dists/$suite" ] || fetch "$mirror" "$dir" "$suite" "$comps"
  args+=("deb $mirror $suite ${comps//,/ }")
  for s in "$@"; do
    [ -d "$dir/dists/$s" ] || fetch "$mirror" "$dir" "$s" "$comps"
    args+=("deb $mirror $s ${comps//,/ }")
  done
  local inc=()
  [ -z "$include" ] || inc=(--include="$include")
  local t0=$SECONDS
  if ! "$DEBSTRAP" resolve -q --variant="$variant" "${inc[@]}" --architectures="$arch" "$suite" "${args[@]}" > "$work/$name.debstrap"; then
    bad "$name: debstrap resolve failed"; return
  fi
  local oinc=()
  [ -z "$include" ] || oinc=(-i "$include")
  if ! sh "$here/resolve-oracle.sh" -v "$variant" -a "$arch" -c "$comps" "${oinc[@]}" "$suite" "$dir" "$@" > "$work/$name.apt"; then
    bad "$name: the apt oracle failed"; return
  fi
  local n
  n=$(wc -l < "$work/$name.debstrap")
  if diff -u "$work/$name.apt" "$work/$name.debstrap" > "$work/$name.diff"; then
    ok "$name: $n packages, identical to apt's ($((SECONDS-t0))s)"
  else
    bad "$name: differs from apt (- apt, + debstrap):"; sed 's/^/    /' "$work/$name.diff" | head -40
  fi
}

step "resolution equals apt's"
compare bookworm-minbase      "$DM" main minbase   ""                       bookworm
compare trixie-minbase        "$DM" main minbase   ""                       trixie
compare bookworm-minbase-curl "$DM" main minbase   curl,ca-certificates     bookworm
compare bookworm-buildd       "$DM" main buildd    ""                       bookworm
compare bookworm-important    "$DM" main important ""                       bookworm
compare noble-minbase         "$UM" main,universe minbase ""                noble noble-updates

summary
