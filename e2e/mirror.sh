#!/usr/bin/env bash
# e2e: offline mirrors. As the unprivileged user, mirror bookworm minbase +
# curl (with -updates and security) and noble minbase into one DIR; then,
# in a network namespace with loopback only, build from the mirror served
# on 127.0.0.1 and from file://, and install curl inside the image from
# it; the host's apt reads the mirror cleanly with the archive keyring; a
# killed run leaves the mirror usable; --with-sources, --reindex
# --sign-with and --prune.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/image.sh"

d=$work/mirror
m=$d/m
mkdir -p "$d" && chown "$user" "$d"
SEC=${DM%/*}/debian-security
KEYS=/usr/share/keyrings/debian-archive-keyring.gpg
# versions TAR: "name version" of each package in the image's status.
versions() { tar -xOf "$1" ./var/lib/dpkg/status 2>/dev/null | awk '/^Package: /{p=$2} /^Version: /{print p, $2}' | sort; }
# host_apt SOURCES-FILE: apt-get update on the host against it, in a
# state of its own; prints what apt printed.
host_apt() {
  local s=$d/apt.$RANDOM
  mkdir -p "$s/lists/partial" "$s/cache/archives/partial"
  apt-get update -o Dir::Etc::SourceList="$1" -o Dir::Etc::SourceParts=/dev/null \
    -o Dir::State::Lists="$s/lists" -o Dir::Cache="$s/cache" -o APT::Architecture="$arch" -o APT::Architectures::="$arch" \
    -o Debug::NoLocking=1 2>&1
}
clean_apt() { ! grep -E '^(W|E|Err):' <<< "$1" >/dev/null; }

step "mirror: bookworm minbase + curl (with -updates, security), noble minbase, one DIR"
t0=$SECONDS
# With Recommends: apt-get install curl inside the image installs them.
if as_user "$DEBSTRAP" mirror --variant=minbase --include=curl --include-recommends bookworm "$m" "$DM" > "$d/m1.log" 2>&1; then
  ok "bookworm mirrored in $((SECONDS-t0))s: $(grep -o 'packages=.*added-size="[^"]*"' "$d/m1.log")"
else bad "mirror bookworm: $(tail -3 "$d/m1.log")"; fi
t0=$SECONDS
if as_user "$DEBSTRAP" mirror --variant=minbase noble "$m" "$UM" > "$d/m2.log" 2>&1; then
  ok "noble added in $((SECONDS-t0))s: $(grep -o 'selections=.*added-size="[^"]*"' "$d/m2.log")"
else bad "mirror noble: $(tail -3 "$d/m2.log")"; fi
ls -d "$m"/*/dists/* | sed "s|$m/||" | tr '\n' ' '; echo
t0=$SECONDS
as_user "$DEBSTRAP" mirror "$m" > "$d/m3.log" 2>&1
if grep -q ' added=0 ' "$d/m3.log"; then ok "a re-run with nothing new fetches no package ($((SECONDS-t0))s)"
else bad "re-run: $(tail -2 "$d/m3.log")"; fi

# The signed files are the archive's own.
for f in InRelease Release Release.gpg; do
  if curl -sf "$DM/dists/bookworm/$f" | cmp -s - "$m/debian/dists/bookworm/$f"; then ok "dists/bookworm/$f as published"
  else bad "dists/bookworm/$f differs from the archive's"; fi
done

step "the host's apt reads the mirror (archive keyring)"
cat > "$d/host.list" <<EOF
deb [signed-by=$KEYS] file://$m/debian bookworm main
deb [signed-by=$KEYS] file://$m/debian bookworm-updates main
deb [signed-by=$KEYS] file://$m/debian-security bookworm-security main
EOF
out=$(host_apt "$d/host.list")
if clean_apt "$out"; then ok "apt-get update against the mirror: clean ($(grep -c '^Get:' <<< "$out") files)"
else bad "apt-get update: $(grep -E '^(W|E|Err):' <<< "$out" | head -4)"; fi

step "build with no network: served on 127.0.0.1, and file://"
as_user "$DEBSTRAP" resolve -q --variant=minbase bookworm "$DM" 2>/dev/null | awk '{print $1, $2}' | sort > "$d/online.txt"
port=$((20000 + RANDOM % 20000))
cat > "$d/offline.sh" <<EOF
set -u
ip link set lo up
cd "$m" && python3 -m http.server --bind 127.0.0.1 $port > "$d/http.log" 2>&1 &
srv=\$!
for i in \$(seq 50); do curl -sf http://127.0.0.1:$port/debian/dists/bookworm/InRelease >/dev/null && break; sleep 0.1; done
su -s /bin/bash $user -c "env SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH $DEBSTRAP build -q --variant=minbase --cache-dir=$d/c1 bookworm $d/http.tar http://127.0.0.1:$port/debian" > "$d/http.build.log" 2>&1; echo "http \$?"
su -s /bin/bash $user -c "env SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH $DEBSTRAP build -q --variant=minbase --cache-dir=$d/c2 bookworm $d/file.tar file://$m/debian" > "$d/file.build.log" 2>&1; echo "file \$?"
curl -sf -m 5 -o /dev/null "$DM/dists/bookworm/InRelease"; echo "network \$?"
for kind in http file; do
  r=$d/\$kind.root; mkdir -p \$r && tar -C \$r -xpf $d/\$kind.tar
  mount --bind /proc \$r/proc
  if [ \$kind = file ]; then mkdir -p \$r$m && mount --bind $m \$r$m; fi
  chroot \$r sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl >/dev/null && curl --version >/dev/null' > "$d/\$kind.apt.log" 2>&1; echo "\$kind-apt \$?"
  [ \$kind = file ] && umount \$r$m
  umount \$r/proc
done
kill \$srv
EOF
unshare -n bash "$d/offline.sh" > "$d/offline.out" 2> "$d/offline.err"
res() { awk -v k="$1" '$1==k {print $2}' "$d/offline.out"; }
[ "$(res network)" != 0 ] && ok "in the namespace the archive is out of reach" || bad "the namespace has network"
for kind in http file; do
  if [ "$(res $kind)" = 0 ] && diff -q <(versions "$d/$kind.tar") "$d/online.txt" >/dev/null; then
    ok "$kind: bookworm minbase built from the mirror, the online resolution's versions ($(wc -l < "$d/online.txt") packages)"
  else bad "$kind: build $(res $kind): $(tail -2 "$d/$kind.build.log") $(diff <(versions "$d/$kind.tar") "$d/online.txt" | head -3 | tr '\n' ' ')"; fi
  if [ "$(res $kind-apt)" = 0 ]; then ok "$kind: apt-get update && apt-get install curl inside the image, from the mirror"
  else bad "$kind: apt in the image: $(tail -3 "$d/$kind.apt.log")"; fi
done
tar -xOf "$d/http.tar" ./etc/apt/sources.list | grep -q "127.0.0.1:$port/debian-security bookworm-security" &&
  ok "the image's sources point at the mirror (security beside it)" || bad "sources.list: $(tar -xOf "$d/http.tar" ./etc/apt/sources.list)"
if as_user "$DEBSTRAP" build -q --variant=minbase --image-mirror=http://mirror.lan/debian --cache-dir="$d/c2" bookworm "$d/im.tar" "file://$m/debian" > "$d/im.log" 2>&1 &&
  [ "$(tar -xOf "$d/im.tar" ./etc/apt/sources.list | awk '{print $2}' | sort -u | tr '\n' ' ')" = "http://mirror.lan/debian http://mirror.lan/debian-security " ]; then
  ok "--image-mirror: the image's sources name where the mirror will be served"
else bad "--image-mirror: $(tail -2 "$d/im.log"; tar -xOf "$d/im.tar" ./etc/apt/sources.list 2>/dev/null)"; fi

step "noble from the mirror; the host's apt with the image's keyring"
if as_user "$DEBSTRAP" build -q --variant=minbase --mode=extract --cache-dir="$d/c2" noble "$d/noble.tar" "file://$m/ubuntu" > "$d/noble.log" 2>&1; then
  ok "noble minbase built from file://$m/ubuntu ($(versions "$d/noble.tar" | wc -l) packages)"
  tar -xOf "$d/noble.tar" ./usr/share/keyrings/ubuntu-archive-keyring.gpg > "$d/ubuntu.gpg"
  printf 'deb [signed-by=%s] file://%s/ubuntu %s main\n' "$d/ubuntu.gpg" "$m" noble "$d/ubuntu.gpg" "$m" noble-updates "$d/ubuntu.gpg" "$m" noble-security > "$d/noble.list"
  out=$(host_apt "$d/noble.list")
  clean_apt "$out" && ok "apt-get update against the noble mirror: clean" || bad "noble apt-get update: $(grep -E '^(W|E|Err):' <<< "$out" | head -3)"
else bad "noble from the mirror: $(tail -3 "$d/noble.log")"; fi

step "a killed run leaves the mirror usable"
before=$(sha256sum "$m/debian/dists/bookworm/InRelease")
as_user "$DEBSTRAP" mirror -q --variant=minbase --include=python3 bookworm "$m" "$DM" > "$d/kill.log" 2>&1 &
# Killed while it places python3's files in the pool (after downloading).
for i in $(seq 3000); do [ -e "$m/debian/pool/main/m/media-types" ] && break; sleep 0.01; done
pkill -KILL -u "$user" -f 'debstrap mirror'; wait 2>/dev/null
if grep -q 'mirror written' "$d/kill.log" || ! [ -e "$m/debian/pool/main/m/media-types" ]; then bad "the run was not killed while placing files"; fi
out=$(host_apt "$d/host.list")
if clean_apt "$out" && [ "$before" = "$(sha256sum "$m/debian/dists/bookworm/InRelease")" ] &&
  as_user "$DEBSTRAP" build -q --variant=minbase --cache-dir="$d/c2" --rebuild bookworm "$d/after-kill.tar" "file://$m/debian" > "$d/ak.log" 2>&1; then
  ok "killed while placing files: dists unchanged, apt-get update clean, a build from it works"
else bad "after the kill: $(grep -E '^(W|E):' <<< "$out" | head -2) $(tail -2 "$d/ak.log")"; fi
if as_user "$DEBSTRAP" mirror -q "$m" > "$d/after.log" 2>&1 && [ -z "$(ls -A "$m/.debstrap/tmp" 2>/dev/null)" ]; then
  ok "the next run cleans what the killed one left"
else bad "the run after the kill: $(tail -2 "$d/after.log")"; fi

step "--prune, --with-sources, --reindex --sign-with"
as_user "$DEBSTRAP" mirror --prune "$m" > "$d/prune.log" 2>&1 && out=$(host_apt "$d/host.list") && clean_apt "$out" &&
  ok "--prune: $(grep -o 'pruned=[0-9]* pruned-size="[^"]*"' "$d/prune.log"), apt-get update clean" || bad "--prune: $(tail -2 "$d/prune.log")"
s=$d/src
if as_user "$DEBSTRAP" mirror -q --variant=custom --include=base-files --no-updates --with-sources bookworm "$s" "$DM" > "$d/src.log" 2>&1; then
  printf 'deb-src [signed-by=%s] file://%s/debian bookworm main\n' "$KEYS" "$s" > "$d/src.list"
  st=$d/apt.src; mkdir -p "$st/lists/partial" "$st/cache"
  aopt=(-o Dir::Etc::SourceList="$d/src.list" -o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists="$st/lists" -o Dir::Cache="$st/cache" -o Debug::NoLocking=1)
  if apt-get update "${aopt[@]}" > "$d/src.apt" 2>&1 && (cd "$d" && apt-get source --download-only "${aopt[@]}" base-files >> "$d/src.apt" 2>&1) && ls "$d"/base-files_*.dsc >/dev/null 2>&1; then
    ok "--with-sources: apt-get source base-files from the mirror ($(ls "$s"/debian/pool/main/b/base-files | tr '\n' ' '))"
  else bad "--with-sources: $(tail -3 "$d/src.apt")"; fi
else bad "--with-sources: $(tail -3 "$d/src.log")"; fi
export GNUPGHOME=$d/gnupg; mkdir -p "$GNUPGHOME" && chmod 700 "$GNUPGHOME"
gpg -q --batch --passphrase '' --quick-gen-key 'debstrap e2e mirror' rsa3072 sign never 2>/dev/null
gpg -q --batch --export-secret-keys > "$d/mirror.key" && chown "$user" "$d/mirror.key"
r=$d/reindexed
if as_user "$DEBSTRAP" mirror -q --variant=minbase --reindex --sign-with="$d/mirror.key" bookworm "$r" "$DM" > "$d/re.log" 2>&1; then
  sed "s|$m|$r|; s|signed-by=$KEYS|signed-by=$r/debstrap-mirror.asc|" "$d/host.list" > "$d/re.list"
  out=$(host_apt "$d/re.list")
  clean_apt "$out" && ok "--reindex --sign-with: apt-get update with the user's key: clean" || bad "reindexed: $(grep -E '^(W|E|Err):' <<< "$out" | head -3)"
  sed "s|signed-by=$r/debstrap-mirror.asc|signed-by=$KEYS|" "$d/re.list" > "$d/re-archive.list"
  out=$(host_apt "$d/re-archive.list")
  clean_apt "$out" && bad "the reindexed mirror verifies with the archive key" || ok "with the archive key instead: refused ($(grep -m1 -o 'NO_PUBKEY [0-9A-F]*' <<< "$out"))"
  n=$(zcat "$r/debian/dists/bookworm/main/binary-amd64/Packages.gz" | grep -c '^Package: ')
  p=$(find "$r/debian/pool" -name '*.deb' | wc -l)
  [ "$n" -le "$p" ] && ok "the new bookworm index lists $n packages; the pool has $p .debs" || bad "reindexed index lists $n, pool has $p"
else bad "--reindex: $(tail -3 "$d/re.log")"; fi

summary
