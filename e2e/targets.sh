#!/usr/bin/env bash
# e2e: the unusual targets, as root with the host's sources: "-" (stdout, into
# docker import), /dev/stdout (a symlink that must stay one), a FIFO; and the
# targets that must be refused at once, before anything is downloaded: a
# non-empty directory and a file in a directory the builder cannot write.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
source "$here/docker.sh"

work=$(mktemp -d /var/tmp/debstrap-e2e-targets.XXXXXX)
chmod 755 "$work"
img=debstrap-e2e-stdin
cleanup() {
  docker image rm -f "$img" >/dev/null 2>&1
  [ -n "${E2E_KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
user=${E2E_USER:-dsbuild}
if ! id "$user" >/dev/null 2>&1; then useradd -m "$user"; fi

step "targets: - into docker import"
if docker_up; then
  t0=$SECONDS
  "$DEBSTRAP" build -q --variant=minbase --format=tar bookworm - 2> "$work/stdin.log" | docker import - "$img" > "$work/import.log" 2>&1
  st=("${PIPESTATUS[@]}")
  if [ "${st[0]}" -eq 0 ] && [ "${st[1]}" -eq 0 ]; then
    ok "debstrap ... bookworm - | docker import - $img in $((SECONDS-t0))s"
    if docker run --network=host --rm "$img" /bin/true; then ok "docker run $img /bin/true"
    else bad "docker run $img /bin/true"; fi
  else
    bad "stdout into docker import: debstrap exit ${st[0]}, docker import exit ${st[1]}: $(tail -3 "$work/stdin.log") $(tail -3 "$work/import.log")"
  fi
else
  echo "skip docker: no engine could be started (the - target is still checked without it)"
  if "$DEBSTRAP" build -q --variant=minbase --format=tar bookworm - 2> "$work/stdin.log" | tar -tf - > "$work/stdin.list" &&
     [ -s "$work/stdin.list" ]; then ok "debstrap ... bookworm - | tar -tf - lists $(wc -l < "$work/stdin.list") entries"
  else bad "stdout target: $(tail -3 "$work/stdin.log")"; fi
fi

step "targets: /dev/stdout"
if [ -L /dev/stdout ]; then
  before=$(readlink /dev/stdout)
  if "$DEBSTRAP" build -q --variant=minbase --format=tar bookworm /dev/stdout > "$work/f.tar" 2> "$work/devstdout.log"; then
    ok "build to /dev/stdout > f.tar ($(du -h "$work/f.tar" | cut -f1))"
  else bad "build to /dev/stdout: $(tail -3 "$work/devstdout.log")"; fi
  if [ -L /dev/stdout ] && [ "$(readlink /dev/stdout)" = "$before" ]; then ok "/dev/stdout is still a symlink to $before"
  else bad "/dev/stdout is no longer the symlink to $before: $(ls -l /dev/stdout)"; fi
  if n=$(tar -tf "$work/f.tar" | wc -l) && [ "$n" -gt 0 ]; then ok "f.tar lists with tar -tf ($n entries)"
  else bad "f.tar does not list with tar -tf"; fi
else
  echo "skip /dev/stdout: not a symlink on this host"
fi

step "targets: a FIFO"
p=$work/p.tar
mkfifo "$p"
tar -tf - < "$p" > "$work/list" 2> "$work/fifo-tar.log" &
tarpid=$!
if "$DEBSTRAP" build -q --variant=minbase --format=tar bookworm "$p" > "$work/fifo.log" 2>&1; then
  ok "build into the FIFO p.tar"
else bad "build into a FIFO: $(tail -3 "$work/fifo.log")"; fi
# A reader that never got its writer would wait for ever: give it a moment.
for _ in $(seq 10); do kill -0 "$tarpid" 2>/dev/null || break; sleep 1; done
if kill -0 "$tarpid" 2>/dev/null; then kill "$tarpid"; bad "tar reading the FIFO did not finish"
elif wait "$tarpid" && [ -s "$work/list" ]; then ok "tar -tf read the FIFO: $(wc -l < "$work/list") entries"
else bad "tar -tf of the FIFO: $(wc -l < "$work/list") entries; $(tail -3 "$work/fifo-tar.log")"; fi
if [ -p "$p" ]; then ok "p.tar is still a FIFO"; else bad "p.tar is no longer a FIFO: $(ls -l "$p")"; fi

step "targets: refused before downloading"
# refused NAME CMD...: CMD fails, by itself, within 5 s.
refused() {
  local name=$1 t0 rc; shift
  t0=$(date +%s.%N)
  timeout 10 "$@" > "$work/refused.log" 2>&1; rc=$?
  local dt; dt=$(echo "$(date +%s.%N) - $t0" | bc)
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && [ "$(echo "$dt < 5" | bc)" = 1 ]; then
    ok "$name: exit $rc in $(printf %.2f "$dt")s: $(grep -v '^$' "$work/refused.log" | tail -1)"
  else bad "$name: exit $rc after ${dt}s: $(tail -3 "$work/refused.log")"; fi
}
mkdir -p "$work/full" && echo keep > "$work/full/file"
refused "non-empty directory target" "$DEBSTRAP" build -q --variant=minbase bookworm "$work/full/"
if [ "$(cat "$work/full/file" 2>/dev/null)" = keep ] && [ "$(ls -A "$work/full")" = file ]; then ok "the non-empty directory is left as it was"
else bad "the non-empty directory was changed: $(ls -A "$work/full" | head -5 | tr '\n' ' ')"; fi
mkdir -p "$work/ro" && chmod 755 "$work/ro"
home=$(getent passwd "$user" | cut -d: -f6)
refused "target in a directory $user cannot write" \
  runuser -u "$user" -- env HOME="$home" XDG_CACHE_HOME="$home/.cache" "$DEBSTRAP" build -q --variant=minbase bookworm "$work/ro/out.tar"
if [ -z "$(ls -A "$work/ro")" ]; then ok "nothing was left in the unwritable directory"
else bad "the unwritable directory holds: $(ls -A "$work/ro")"; fi

summary
