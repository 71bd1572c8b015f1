# Shared by the e2e scripts: where the mirrors are and how to run debstrap.
# Mirrors are configuration, never literals: Debian's comes from the host's
# apt sources (or $DEBSTRAP_MIRROR), Ubuntu's from $DEBSTRAP_UBUNTU_MIRROR or
# debootstrap's own suite script.

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/.." && pwd)
DEBSTRAP=${DEBSTRAP:-$top/bin/debstrap}

debian_mirror() {
  if [ -n "${DEBSTRAP_MIRROR:-}" ]; then echo "$DEBSTRAP_MIRROR"; return; fi
  local m
  m=$(sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/*.sources 2>/dev/null | tr ' ' '\n' | grep -v -e security -e '^$' | head -1)
  [ -n "$m" ] || m=$(awk '$1=="deb" && $0 !~ /security/ {for (i=2;i<=NF;i++) if ($i ~ /:\/\//) {print $i; exit}}' /etc/apt/sources.list 2>/dev/null)
  [ -n "$m" ] || { echo "e2e: no Debian mirror: set DEBSTRAP_MIRROR" >&2; return 1; }
  echo "${m%/}"
}

ubuntu_mirror() {
  if [ -n "${DEBSTRAP_UBUNTU_MIRROR:-}" ]; then echo "$DEBSTRAP_UBUNTU_MIRROR"; return; fi
  local s=/usr/share/debootstrap/scripts/gutsy m
  [ -e "$s" ] && m=$(sed -n 's/^[[:space:]]*default_mirror[[:space:]]*//p' "$s" | grep -v old-releases | head -1)
  [ -n "${m:-}" ] || { echo "e2e: no Ubuntu mirror: set DEBSTRAP_UBUNTU_MIRROR or install debootstrap" >&2; return 1; }
  echo "${m%/}"
}

# step NAME: a heading in the log, and a timer.
step() { printf '\n=== %s\n' "$*"; }

pass=0 fail=0
ok()   { pass=$((pass+1)); printf 'ok   %s\n' "$*"; }
bad()  { fail=$((fail+1)); printf 'FAIL %s\n' "$*"; }
summary() {
  printf '\n%d passed, %d failed\n' "$pass" "$fail"
  [ "$fail" -eq 0 ]
}
