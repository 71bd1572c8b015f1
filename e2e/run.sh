#!/usr/bin/env bash
# make e2e: every live check, against the host's configured mirror.
# Each part prints "ok"/"FAIL" lines and its own "N passed, N failed".
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
status=0
parts="resolve build native defaults targets hostile kill lock sbom mirror customize profile formats registry"
[ -z "${E2E_FULL:-}" ] || parts="$parts full"
for part in $parts; do
  [ -e "$here/$part.sh" ] || continue
  t0=$SECONDS
  bash "$here/$part.sh" || status=1
  printf '\n--- e2e part %s: %d s\n' "$part" $((SECONDS-t0))
done
exit $status
