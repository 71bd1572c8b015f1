#!/usr/bin/env bash
# e2e: 'debstrap sbom' checked against syft. For one image (bookworm minbase
# plus curl, built as the unprivileged user into an OCI archive) debstrap's
# SPDX and CycloneDX documents list the Debian packages (name, version) that
# syft finds in it, and syft reads both documents back. Needs go (to install
# syft once, into a cache directory) and jq.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/image.sh"

SYFT_VERSION=${SYFT_VERSION:-1.57.2}
export SYFT_CHECK_FOR_APP_UPDATE=false

# syft_bin prints the path of a syft of SYFT_VERSION: the one on PATH if it
# is that version, else one installed with go install into a cache
# directory that outlives $work (so it is compiled once).
syft_bin() {
  local s gobin
  s=$(command -v syft 2>/dev/null)
  if [ -n "$s" ] && "$s" version 2>/dev/null | grep -Eq "^Version:[[:space:]]+v?${SYFT_VERSION//./\\.}\$"; then
    echo "$s"; return
  fi
  gobin=${SYFT_GOBIN:-${XDG_CACHE_HOME:-$HOME/.cache}/debstrap-e2e/syft-$SYFT_VERSION}
  if [ ! -x "$gobin/syft" ]; then
    mkdir -p "$gobin" &&
      (cd / && GOBIN=$gobin go install "github.com/anchore/syft/cmd/syft@v$SYFT_VERSION") > "$work/syft-install.log" 2>&1 ||
      return 1
  fi
  echo "$gobin/syft"
}

# debs FILE: "NAME VERSION" of each deb package of a syft-json document.
debs() { jq -r '.artifacts[] | select(.type == "deb") | "\(.name) \(.version)"' "$1" | LC_ALL=C sort; }

# first_lines FILE: a file's first lines on one line, for a FAIL message.
first_lines() { head -"${2:-8}" "$1" | tr '\n' ' '; }

command -v jq >/dev/null || { bad "jq is not installed"; summary; exit 1; }

step "syft $SYFT_VERSION"
t0=$SECONDS
if syft=$(syft_bin); then ok "syft $SYFT_VERSION: $syft ($((SECONDS-t0))s)"
else bad "go install syft@v$SYFT_VERSION: $(tail -3 "$work/syft-install.log")"; summary; exit 1; fi

step "debstrap sbom of bookworm minbase + curl"
img=$work/sbom.oci.tar
t0=$SECONDS
if ! as_user "$DEBSTRAP" build -q --variant=minbase --include=curl bookworm "$img" "$DM" > "$work/sbom-build.log" 2>&1; then
  bad "build as $user: $(tail -5 "$work/sbom-build.log")"; summary; exit 1
fi
ok "built bookworm minbase + curl as $user in $((SECONDS-t0))s"
for fmt in spdx cdx; do
  if as_user "$DEBSTRAP" sbom -o "$work/debstrap.$fmt.json" "$img" > "$work/sbom-$fmt.log" 2>&1; then
    ok "debstrap sbom -o debstrap.$fmt.json"
  else bad "debstrap sbom -o debstrap.$fmt.json: $(tail -3 "$work/sbom-$fmt.log")"; fi
done
if "$DEBSTRAP" sbom "$img" > "$work/again.spdx.json" 2> "$work/sbom-again.log" &&
   cmp -s "$work/again.spdx.json" "$work/debstrap.spdx.json"; then
  ok "debstrap sbom is reproducible: the same image, the same bytes"
else bad "debstrap sbom gave two different documents for one image"; fi

# What each document lists.
jq -r '.packages[] | select(any(.externalRefs[]?; .referenceLocator | startswith("pkg:deb/"))) | "\(.name) \(.versionInfo)"' \
  "$work/debstrap.spdx.json" | LC_ALL=C sort > "$work/debstrap-spdx.debs"
jq -r '.components[] | select(.purl | startswith("pkg:deb/")) | "\(.name) \(.version)"' \
  "$work/debstrap.cdx.json" | LC_ALL=C sort > "$work/debstrap-cdx.debs"
n=$(wc -l < "$work/debstrap-spdx.debs")
if [ "$n" -gt 50 ] && cmp -s "$work/debstrap-spdx.debs" "$work/debstrap-cdx.debs"; then
  ok "the SPDX and CycloneDX documents list the same $n packages"
else bad "SPDX lists $n packages, CycloneDX $(wc -l < "$work/debstrap-cdx.debs"), or not the same"; fi
if grep -q '^curl ' "$work/debstrap-spdx.debs"; then ok "curl is in the SBOM"; else bad "curl is not in the SBOM"; fi
with=$(jq '[.packages[] | select(.licenseDeclared != null and .licenseDeclared != "NOASSERTION")] | length' "$work/debstrap.spdx.json")
echo "     ($with of $n packages have licenses from a machine-readable copyright file)"

step "syft on the same image"
if "$syft" scan "oci-archive:$img" -o "syft-json=$work/syft.json" > "$work/syft-scan.log" 2>&1; then
  ok "syft scan oci-archive:sbom.oci.tar"
  debs "$work/syft.json" > "$work/syft.debs"
  if diff -u "$work/syft.debs" "$work/debstrap-spdx.debs" > "$work/debs.diff"; then
    ok "debstrap and syft find the same $n deb packages (name, version)"
  else bad "debstrap's packages differ from syft's: $(grep '^[-+][^-+]' "$work/debs.diff" | first_lines /dev/stdin 10)"; fi
else bad "syft scan: $(tail -3 "$work/syft-scan.log")"; fi

step "syft reads debstrap's documents"
for fmt in spdx cdx; do
  if "$syft" convert "$work/debstrap.$fmt.json" -o "syft-json=$work/convert-$fmt.json" > "$work/convert-$fmt.log" 2>&1; then
    debs "$work/convert-$fmt.json" > "$work/convert-$fmt.debs"
    if cmp -s "$work/convert-$fmt.debs" "$work/debstrap-spdx.debs"; then
      ok "syft convert debstrap.$fmt.json: the same $n deb packages"
    else
      bad "syft convert debstrap.$fmt.json: $(wc -l < "$work/convert-$fmt.debs") deb packages, want $n: $(diff "$work/debstrap-spdx.debs" "$work/convert-$fmt.debs" | grep '^[<>]' | first_lines /dev/stdin 10)"
    fi
  else bad "syft convert debstrap.$fmt.json: $(tail -3 "$work/convert-$fmt.log")"; fi
done

summary
