#!/usr/bin/env bash
# e2e: reproducible CI builds against the host's mirror, as the
# unprivileged user. A lock of bookworm minbase + curl gives byte-identical
# images from two caches; a lock of bookworm alone, checked against
# bookworm with its -updates and security suites, lists what they update;
# a spec file locks and builds; a rebuild with nothing changed is written
# from the cache (its time is printed).
set -uo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/image.sh"

d=$work/lock
mkdir -p "$d" && chown "$user" "$d"
SEC=${DM%/*}/debian-security
# pkgs LOCK: "name version" of each package, sorted.
pkgs() { jq -r '.packages[] | "\(.name) \(.version)"' "$1" | sort; }

# as_user without SOURCE_DATE_EPOCH: the lock's epoch is then its
# Release's Date, and the build from it takes that.
no_epoch() { su -s /bin/bash "$user" -c "$(printf '%q ' env -u SOURCE_DATE_EPOCH "$@")"; }

step "lock, and build from it"
if no_epoch "$DEBSTRAP" lock -q --variant=minbase --include=curl bookworm "$d/bookworm.lock" "$DM" > "$d/lock.log" 2>&1; then
  ok "bookworm minbase + curl locked: $(pkgs "$d/bookworm.lock" | wc -l) packages from $(grep -c '"release": ' "$d/bookworm.lock") sources"
else bad "lock: $(tail -3 "$d/lock.log")"; fi
# SOURCE_DATE_EPOCH unset: the lock's epoch dates the image.
for n in 1 2; do
  no_epoch "$DEBSTRAP" build -q --lock="$d/bookworm.lock" --cache-dir="$d/cache$n" "$d/image$n.tar" > "$d/build$n.log" 2>&1 ||
    bad "build --lock (cache $n): $(tail -3 "$d/build$n.log")"
done
if [ -s "$d/image1.tar" ] && cmp -s "$d/image1.tar" "$d/image2.tar"; then
  ok "build --lock with two empty caches: byte-identical ($(du -h "$d/image1.tar" | cut -f1))"
else bad "build --lock: the two images differ"; fi
status=$(tar -xOf "$d/image1.tar" ./var/lib/dpkg/status 2>/dev/null | awk '/^Package: /{p=$2} /^Version: /{print p, $2}' | sort)
if [ "$status" = "$(pkgs "$d/bookworm.lock")" ]; then ok "the image holds exactly the lock's packages and versions"
else bad "the image's packages differ from the lock's: $(diff <(echo "$status") <(pkgs "$d/bookworm.lock") | head -4 | tr '\n' ' ')"; fi
mtime=$(tar -tvf "$d/image1.tar" ./etc/apt/sources.list | awk '{print $4" "$5}')  # written by debstrap: dated by the epoch
epoch=$(sed -n 's/^  "epoch": \([0-9]*\),$/\1/p' "$d/bookworm.lock")
if [ "$epoch" != "$SOURCE_DATE_EPOCH" ] && [ "$(date -u -d "@$epoch" '+%Y-%m-%d %H:%M')" = "$mtime" ]; then ok "dated by the lock's epoch, its Release's Date ($(date -u -d "@$epoch"))"
else bad "the image's mtimes ($mtime) are not the lock's epoch ($epoch)"; fi

# Offline: the cache that built image2 builds it again, no network.
if no_epoch "$DEBSTRAP" build -q --offline --rebuild --lock="$d/bookworm.lock" --cache-dir="$d/cache2" "$d/offline.tar" > "$d/offline.log" 2>&1 &&
  cmp -s "$d/offline.tar" "$d/image1.tar"; then ok "build --offline --lock from a filled cache: the same image, no network"
else bad "build --offline: $(tail -3 "$d/offline.log")"; fi
rm -f "$d/offline.tar"

step "lock --check: pending updates"
as_user "$DEBSTRAP" lock -q --variant=minbase --include=curl bookworm "$d/release.lock" "deb $DM bookworm main" > "$d/release.log" 2>&1 ||
  bad "lock of bookworm alone: $(tail -3 "$d/release.log")"
as_user "$DEBSTRAP" lock --check -q "$d/release.lock" "deb $DM bookworm main" > "$d/check0.out" 2>&1
rc=$?
[ $rc = 0 ] && ok "lock --check against its own sources: current (exit 0)" || bad "lock --check against its own sources: exit $rc: $(head -3 "$d/check0.out")"
as_user "$DEBSTRAP" lock --check "$d/release.lock" "deb $DM bookworm main" "deb $DM bookworm-updates main" "deb $SEC bookworm-security main" > "$d/check.out" 2> "$d/check.err"
rc=$?
# What the updates change: the two locks' package lists compared.
want=$(diff <(pkgs "$d/release.lock") <(pkgs "$d/bookworm.lock") | sed -n 's/^> \([^ ]*\) .*/\1/p' | sort -u)
got=$(sed -n 's/^\([^: ]*\):[^ ]* .*/\1/p' "$d/check.out" | sort -u)
if [ $rc = 1 ] && [ -n "$got" ] && [ "$got" = "$want" ]; then
  ok "lock --check with -updates and security: exit 1, lists the $(echo "$got" | wc -l) updated packages ($(echo $got | cut -c1-60)…)"
else bad "lock --check: exit $rc; listed [$(echo $got)], the locks differ in [$(echo $want)]; $(tail -2 "$d/check.err")"; fi

step "spec file"
cat > "$d/ci.yaml" <<YAML
suite: bookworm
variant: minbase
include: [curl]
lock: $d/ci.lock
target: $d/ci.tar
sources: [$DM]
YAML
chown "$user" "$d/ci.yaml"
if as_user "$DEBSTRAP" lock -q -f "$d/ci.yaml" > "$d/ci.log" 2>&1 && cmp -s <(pkgs "$d/ci.lock") <(pkgs "$d/bookworm.lock") &&
  as_user "$DEBSTRAP" build -q -f "$d/ci.yaml" >> "$d/ci.log" 2>&1 && [ -s "$d/ci.tar" ]; then
  ok "lock -f and build -f: the spec's set, built from its lock"
else bad "spec: $(tail -3 "$d/ci.log")"; fi

step "a rebuild with nothing changed"
no_epoch "$DEBSTRAP" build -q --lock="$d/bookworm.lock" --cache-dir="$d/cache1" "$d/again.tar" > /dev/null 2>&1
t0=$(date +%s.%N)
out=$(no_epoch "$DEBSTRAP" build --lock="$d/bookworm.lock" --cache-dir="$d/cache1" "$d/again.tar" 2>/dev/null)
t=$(echo "$(date +%s.%N) - $t0" | bc)
if [[ "$out" == *"the cache's output of the same build"* ]] && cmp -s "$d/again.tar" "$d/image1.tar"; then
  ok "bookworm minbase + curl from its lock, nothing changed: written from the cache in ${t}s (wall, with su), $out"
else bad "rebuild: $out"; fi
summary
