#!/usr/bin/env bash
# e2e: what a build gets by default, as root and with no MIRROR argument
# (debstrap takes the host's apt sources): a stable suite is brought up to
# SUITE-updates and SUITE-security, checked against the host's apt as oracle;
# and a multi-arch root-mode build is left consistent for dpkg.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

work=$(mktemp -d /var/tmp/debstrap-e2e-defaults.XXXXXX)
chmod 755 "$work"
mounts=()
cleanup() {
  local m
  for m in "${mounts[@]}"; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
  # Never remove through a mount that is still there.
  if findmnt -rn -o TARGET | grep -q "^$work"; then
    echo "    left $work: still mounted"; return
  fi
  [ -n "${E2E_KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

DM=$(debian_mirror) || exit 1

# security_mirror: the host's source for SUITE-security, else the archive
# debstrap derives from the mirror (the sibling tree "debian-security").
security_mirror() {
  local m
  m=$(awk '
    /^[[:space:]]*$/ { if (u != "" && s ~ /-security/) { print u; exit } u = s = ""; next }
    /^URIs:/ { u = $2 } /^Suites:/ { s = $0 }
    END { if (u != "" && s ~ /-security/) print u }' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1)
  [ -n "$m" ] || m=$(awk '$1=="deb" && $0 ~ /-security/ {for (i=2;i<=NF;i++) if ($i ~ /:\/\//) {print $i; exit}}' \
    /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | head -1)
  if [ -n "$m" ]; then echo "${m%/} host"; return; fi
  m=${DM%/}
  local scheme=${m%%://*} rest=${m#*://}
  local host=${rest%%/*} path=
  [ "$host" != "$rest" ] && path=/${rest#*/}
  path=${path%/}
  if [ -n "$path" ] && [ -n "${path##*/}" ]; then path=${path%/*}/debian-security; else path=/debian-security; fi
  echo "$scheme://$host$path derived"
}

step "defaults: bookworm minbase as root, no MIRROR: at bookworm-updates and -security"
t0=$SECONDS
d1=$work/bookworm
if "$DEBSTRAP" build -q --variant=minbase bookworm "$d1/" > "$work/build1.log" 2>&1; then
  ok "bookworm minbase built as root with the host's sources in $((SECONDS-t0))s"
  read -r SM how < <(security_mirror)
  echo "    mirror $DM; security $SM ($how)"
  a=$work/apt
  mkdir -p "$a/etc/apt.conf.d" "$a/etc/preferences.d" "$a/etc/sources.list.d" \
    "$a/state/lists/partial" "$a/cache/archives/partial"
  : > "$a/status"
  kr=/usr/share/keyrings/debian-archive-keyring.gpg
  opt=""; [ -e "$kr" ] && opt="[signed-by=$kr] "
  {
    echo "deb ${opt}$DM bookworm main"
    echo "deb ${opt}$DM bookworm-updates main"
    echo "deb ${opt}$SM bookworm-security main"
  } > "$a/etc/sources.list"
  aptopts=(-o Dir::Etc="$a/etc" -o Dir::Etc::SourceList="$a/etc/sources.list"
    -o Dir::Etc::SourceParts="$a/etc/sources.list.d" -o Dir::Etc::Parts="$a/etc/apt.conf.d"
    -o Dir::Etc::Preferences="$a/etc/preferences" -o Dir::Etc::PreferencesParts="$a/etc/preferences.d"
    -o Dir::State="$a/state" -o Dir::State::status="$a/status" -o Dir::Cache="$a/cache"
    -o APT::Architecture="$(dpkg --print-architecture)" -o APT::Architectures::=
    -o Acquire::Languages=none -o APT::Sandbox::User=root -o Debug::NoLocking=true)
  [ -e "$kr" ] || aptopts+=(-o Dir::Etc::Trusted=/etc/apt/trusted.gpg -o Dir::Etc::TrustedParts=/etc/apt/trusted.gpg.d)
  if apt-get "${aptopts[@]}" -qq update > "$work/apt-update.log" 2>&1; then
    dpkg-query --admindir="$d1/var/lib/dpkg" -W -f '${Package} ${Version}\n' | sort > "$work/image.txt"
    # shellcheck disable=SC2046
    apt-cache "${aptopts[@]}" policy $(cut -d' ' -f1 "$work/image.txt") 2>"$work/policy.err" |
      awk '/^[^ ]/ { sub(":$", "", $1); p = $1 } $1 == "Candidate:" { print p, $2 }' | sort > "$work/candidate.txt"
    n=$(wc -l < "$work/image.txt")
    # Every package of the image, against apt's candidate (join keeps the
    # ones apt does not know, with "-").
    diffs=$(join -a1 -e - -o 0,1.2,2.2 "$work/image.txt" "$work/candidate.txt" | awk '$2 != $3')
    if [ "$n" -gt 0 ] && [ -z "$diffs" ]; then
      ok "all $n packages are at apt's candidate for bookworm + bookworm-updates + bookworm-security"
    else
      bad "packages not at apt's candidate (package, image, candidate):"
      echo "$diffs" | sed 's/^/      /'
    fi
    # Not vacuous: at least one package should come from an update pocket
    # (information only: a pocket may be empty for a while).
    up=$(apt-cache "${aptopts[@]}" madison $(cut -d' ' -f1 "$work/image.txt") 2>/dev/null |
      awk -F' *[|] *' -v f="$work/image.txt" 'BEGIN { while ((getline l < f) > 0) { split(l, x, " "); v[x[1]] = x[2] } }
        { sub(/^ +/, "", $1) } $3 ~ /(updates|security)/ && v[$1] == $2 { print $1 }' | sort -u | tr '\n' ' ')
    echo "    from bookworm-updates/-security: ${up:-none}"
  else
    bad "apt-get update of the oracle's sources: $(tail -5 "$work/apt-update.log")"
  fi
else bad "bookworm minbase as root: $(tail -5 "$work/build1.log")"; fi

step "defaults: root mode, amd64+i386, --include=libc6:i386"
t0=$SECONDS
d2=$work/multiarch
if "$DEBSTRAP" build -q --mode=root --variant=minbase --architectures=amd64,i386 --include=libc6:i386 bookworm "$d2/" > "$work/build2.log" 2>&1; then
  ok "bookworm minbase amd64,i386 with libc6:i386 built in root mode in $((SECONDS-t0))s"
  if mount --bind /proc "$d2/proc"; then mounts+=("$d2/proc"); fi
  out=$(chroot "$d2" dpkg --audit 2>&1); rc=$?
  if [ $rc -eq 0 ] && [ -z "$out" ]; then ok "multiarch: dpkg --audit is silent and exits 0"
  else bad "multiarch: dpkg --audit (exit $rc): $(echo "$out" | head -10)"; fi
  out=$(chroot "$d2" dpkg-query -W -f='${db:Status-Abbrev}' libc6:i386 2>&1)
  if [ "$out" = "ii " ]; then ok "multiarch: libc6:i386 is 'ii '"
  else bad "multiarch: libc6:i386 status is '$out'"; fi
  out=$(chroot "$d2" dpkg --print-foreign-architectures 2>&1)
  if [ "$out" = i386 ]; then ok "multiarch: dpkg knows i386 as a foreign architecture"
  else bad "multiarch: dpkg --print-foreign-architectures: '$out'"; fi
  umount "$d2/proc" && mounts=()
else bad "multiarch root build: $(tail -5 "$work/build2.log")"; fi

summary
