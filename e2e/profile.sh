#!/usr/bin/env bash
# e2e: --profile=docker and docker-slim against Docker's official images'
# roots, built in the same run from the same mirror: debuerreotype's
# debian:SUITE and debian:SUITE-slim (e2e/debuerreotype.sh), diffed with
# `debstrap diff` (only docs/fidelity.md's differences may remain), in
# root, unshare and native mode; FROM each, `apt-get install python3`
# adds a layer of the same size (within 10%); ubuntu:noble's profile run
# (the user ubuntu, man's stub, apt with the path excludes). Prints the
# image sizes. PROFILE_SUITES (default bookworm; E2E_FULL adds trixie).
set -uo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/image.sh"
source "$(dirname "$0")/docker.sh"

d=$work/profile
mkdir -p "$d" && chown "$user" "$d"
suites=${PROFILE_SUITES:-bookworm}
[ -z "${E2E_FULL:-}" ] || suites="bookworm trixie"
# docs/fidelity.md: the history of the official build's apt and dpkg runs.
ignore=(--ignore '/var/cache/debconf/*-old' --ignore '/var/lib/dpkg/*-old' --ignore /var/lib/dpkg/available
  --ignore /var/lib/dpkg/cmethopt --ignore /var/log/apt/eipp.log.xz --ignore /var/cache/debconf/tmp.ci)
if ! command -v debuerreotype-init >/dev/null; then
  apt-get install -y -qq debuerreotype debootstrap >/dev/null 2>&1 || true
fi
sizes=$d/sizes.txt
: > "$sizes"
size() { # NAME FILE
  awk -v n="$1" -v t="$(stat -c %s "$2")" -v g="$(gzip -c "$2" | wc -c)" 'BEGIN { printf "%-30s %7.1f MB tar %6.1f MB gzip\n", n, t/1e6, g/1e6 }' >> "$sizes"
}

for suite in $suites; do
  step "$suite: debuerreotype's debian:$suite and debian:$suite-slim"
  ref=$d/ref-$suite
  t0=$SECONDS
  if bash "$here/debuerreotype.sh" "$suite" "$ref" "$DM" > "$d/ref-$suite.log" 2>&1; then
    ok "debuerreotype built $suite ($((SECONDS-t0))s, $(wc -l < "$ref/rootfs.manifest") packages)"
  else bad "debuerreotype $suite: $(tail -3 "$d/ref-$suite.log")"; continue; fi
  export SOURCE_DATE_EPOCH=$(cat "$ref/epoch")
  size "debuerreotype $suite" "$ref/rootfs.tar"
  size "debuerreotype $suite-slim" "$ref/slim.tar"

  for prof in docker docker-slim; do
    want=$ref/rootfs.tar; [ "$prof" = docker-slim ] && want=$ref/slim.tar
    for mode in root unshare native; do
      out=$d/$suite-$prof-$mode.tar
      if [ "$mode" = root ]; then run=(); else run=(as_user); fi
      t0=$SECONDS
      if ! "${run[@]}" "$DEBSTRAP" build -q --mode=$mode --profile=$prof "$suite" "$out" "$DM" > "$out.log" 2>&1; then
        bad "$suite $prof $mode: $(tail -3 "$out.log")"; continue
      fi
      if "$DEBSTRAP" diff "${ignore[@]}" "$want" "$out" > "$out.diff" 2>&1; then
        ok "$suite --profile=$prof --mode=$mode equals debuerreotype's but for the documented history files ($((SECONDS-t0))s)"
      else bad "$suite $prof $mode differs: $(grep -v '^$' "$out.diff" | head -5 | tr '\n' ' ')"; fi
    done
    size "debstrap $suite $prof" "$d/$suite-$prof-root.tar"
  done
  "$DEBSTRAP" build -q --variant=minbase "$suite" "$d/$suite-minbase.tar" "$DM" > /dev/null 2>&1 &&
    size "debstrap $suite minbase" "$d/$suite-minbase.tar"

  [ "$suite" = bookworm ] || continue
  step "$suite: FROM the image, apt-get install python3"
  if docker_up; then
    docker import "$ref/rootfs.tar" debstrap-e2e/official:$suite > /dev/null &&
      "$DEBSTRAP" build -q --profile=docker --tag=debstrap-e2e/profile:$suite "$suite" "$d/$suite.docker.tar" "$DM" > /dev/null 2>&1 &&
      docker load -q -i "$d/$suite.docker.tar" > /dev/null
    layer() { # IMAGE: the size the python3 layer adds
      printf 'FROM %s\nRUN apt-get update && apt-get install -y --no-install-recommends python3\n' "$1" |
        DOCKER_BUILDKIT=0 docker build -q --network=host -t "$1-python3" - > /dev/null 2>&1 || { echo 0; return; }
      echo $(( $(docker image inspect -f '{{.Size}}' "$1-python3") - $(docker image inspect -f '{{.Size}}' "$1") ))
    }
    a=$(layer debstrap-e2e/official:$suite) b=$(layer debstrap-e2e/profile:$suite)
    if [ "$a" -gt 0 ] && [ "$b" -gt 0 ] && [ $(( (b > a ? b - a : a - b) * 100 )) -le $(( a * 10 )) ]; then
      ok "python3 layer: $((b/1000000)) MB on the profile's image, $((a/1000000)) MB on debuerreotype's (within 10%)"
    else bad "python3 layer: $b bytes on the profile's image, $a on debuerreotype's"; fi
    echo "python3 layer on debian:$suite (debuerreotype): $((a/1000000)) MB; on --profile=docker: $((b/1000000)) MB" >> "$sizes"
    docker rmi -f debstrap-e2e/official:$suite debstrap-e2e/profile:$suite debstrap-e2e/official:$suite-python3 debstrap-e2e/profile:$suite-python3 > /dev/null 2>&1
  else bad "no docker engine"; fi
done

step "noble: ubuntu:noble's profile, run"
out=$d/noble-docker.tar
if as_user "$DEBSTRAP" build -q --profile=docker noble "$out" "$UM" > "$out.log" 2>&1; then
  r=$d/noble.root; mkdir -p "$r" && tar -C "$r" --numeric-owner -xpf "$out"
  size "debstrap noble docker" "$out"
  # The image has no device nodes (the runtime brings them).
  mount --bind /dev "$r/dev" && mount -t proc proc "$r/proc" && cp /etc/resolv.conf "$r/etc/resolv.conf"
  [ "$(chroot "$r" su ubuntu -c 'id -un; echo $HOME' | tr '\n' ' ')" = "ubuntu /home/ubuntu " ] &&
    chroot "$r" id ubuntu | grep -q '27(sudo)' && ok "the user ubuntu (uid 1000, in sudo), home from /etc/skel" || bad "user ubuntu: $(chroot "$r" id ubuntu 2>&1)"
  chroot "$r" man ls 2>&1 | grep -q "unminimize" && chroot "$r" dpkg-divert --truename /usr/bin/man | grep -q man.REAL &&
    ok "man is the minimized stub, diverted to man.REAL" || bad "man stub"
  chroot "$r" dpkg-query -W unminimize > /dev/null 2>&1 && ok "unminimize is installed" || bad "no unminimize"
  if chroot "$r" sh -c 'apt-get update -qq && apt-get install -y -qq --no-install-recommends less' > "$d/noble-apt.log" 2>&1; then
    [ -e "$r/usr/share/doc/less/copyright" ] && [ -z "$(ls "$r/usr/share/man" 2>/dev/null)" ] &&
      [ -z "$(ls "$r/var/cache/apt/archives/"*.deb 2>/dev/null)" ] &&
      ok "apt-get install less: copyright kept, no man page, no .deb left" || bad "after apt-get install less: $(ls "$r/usr/share/man" | head -3)"
  else bad "apt in the noble image: $(tail -3 "$d/noble-apt.log")"; fi
  umount "$r/proc" "$r/dev"
else bad "noble --profile=docker: $(tail -3 "$out.log")"; fi

step "sizes"
cat "$sizes"
summary
