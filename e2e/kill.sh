#!/usr/bin/env bash
# e2e: SIGKILL a build while it unpacks, configures and exports, in root,
# unshare (as the unprivileged user) and native mode; the next build must
# succeed and leave no staging root, temporary target, configure job or
# helper process of either run. Then SIGTERM and SIGINT: exit 143 and
# 130, naming the signal, with the same cleanup. Warm caches, minbase.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/image.sh"

# leftovers WHO: what builds of WHO left in the places builds put things.
leftovers() {
  local who=$1 home
  home=$(getent passwd "$who" | cut -d: -f6)
  {
    find /dev/shm /tmp /var/tmp -maxdepth 1 -user "$who" \( -name 'debstrap-stage-*' -o -name 'debstrap-configure-*' -o -name 'debstrap-export-*' -o -name 'debstrap-[0-9]*' \) 2>/dev/null
    find "$work" -maxdepth 2 -name '.*.tmp-*' 2>/dev/null
    pgrep -a -u "$who" -f '__configure-helper' || true
  } | sort -u
}

# --rebuild: these builds must run, not reuse an earlier output.
# run_build WHO MODE TARGET: a build in the background; sets $bpid to
# debstrap's own pid (not su's).
run_build() {
  local who=$1 mode=$2 target=$3 log=$work/$(basename "$3").log
  if [ "$who" = root ]; then
    "$DEBSTRAP" build -q --rebuild --variant=minbase --mode="$mode" bookworm "$target" "$DM" > "$log" 2>&1 &
  else
    as_user "$DEBSTRAP" build -q --rebuild --variant=minbase --mode="$mode" bookworm "$target" "$DM" > "$log" 2>&1 &
  fi
  spid=$!
  bpid=
  for _ in $(seq 100); do
    # Anchored, and as WHO: su's own command line (run by root) holds
    # the same words, and killing su instead leaves debstrap running.
    bpid=$(pgrep -n -u "$who" -f -- "^$DEBSTRAP build -q --rebuild --variant=minbase --mode=$mode bookworm $target") && break
    sleep 0.05
  done
}

# wait_for PHASE WHO TARGET: until the build shows it is in PHASE.
wait_for() {
  local phase=$1 who=$2 target=$3 i
  for i in $(seq 600); do
    case $phase in
      unpack)    find /dev/shm /tmp -maxdepth 3 -user "$who" -path '*debstrap-stage-*/root/usr' 2>/dev/null | grep -q . && return 0 ;;
      configure) pgrep -u "$who" -f '__configure-helper run' >/dev/null && sleep 0.5 && return 0 ;;
      export)    ls -a "$(dirname "$target")" | grep -q "^\.$(basename "$target")\.tmp-" && return 0 ;;
    esac
    kill -0 "$bpid" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

# kill_at WHO MODE PHASE...: one build killed in each phase.
kill_at() {
  local who=$1 mode=$2 phase target; shift 2
  for phase in "$@"; do
    # One target for all: a build sweeps the temporaries of its own target.
    target=$work/kill-$mode.tar
    run_build "$who" "$mode" "$target"
    if [ -z "$bpid" ] || ! wait_for "$phase" "$who" "$target"; then
      bad "$mode: build as $who never reached $phase: $(tail -3 "$work/$(basename "$target").log")"
      kill -9 "$bpid" 2>/dev/null; wait "$spid" 2>/dev/null; continue
    fi
    kill -9 "$bpid"; wait "$spid" 2>/dev/null
    sleep 0.3
    if pgrep -u "$who" -f '__configure-helper' >/dev/null; then
      bad "$mode: helper survived the SIGKILL in $phase: $(pgrep -a -u "$who" -f __configure-helper | head -2)"
    else ok "$mode: SIGKILL during $phase as $who; no helper or script survives"; fi
  done
  [ -n "$(leftovers "$who")" ] && ok "$mode: the killed builds left something ($(leftovers "$who" | wc -l) paths) for the next to clean"
  # The next build (of one of the killed targets) cleans up after all.
  target=$work/kill-$mode.tar
  run_build "$who" "$mode" "$target"
  if wait "$spid"; then ok "$mode: the next build as $who succeeds"
  else bad "$mode: the next build failed: $(tail -3 "$work/$(basename "$target").log")"; fi
  rm -f "$target"
  local left; left=$(leftovers "$who")
  if [ -z "$left" ]; then ok "$mode: nothing left in /dev/shm, /tmp, the target's directory, or ps"
  else bad "$mode: left behind: $(echo "$left" | head -5 | tr '\n' ' ')"; fi
}

step "warm the caches"
"$DEBSTRAP" build -q --variant=minbase --mode=native bookworm "$work/warm.tar" "$DM" > "$work/warm.log" 2>&1 || bad "warm-up build as root: $(tail -3 "$work/warm.log")"
as_user "$DEBSTRAP" build -q --variant=minbase --mode=native bookworm "$work/warm.tar" "$DM" > "$work/warm.log" 2>&1 || bad "warm-up build as $user: $(tail -3 "$work/warm.log")"
rm -f "$work/warm.tar"

step "SIGKILL at several points, then the next build"
kill_at root root unpack configure export
kill_at "$user" unshare unpack configure export
kill_at "$user" native unpack export

step "SIGTERM and SIGINT"
for sig in TERM INT; do
  target=$work/sig-$sig.tar
  run_build root native "$target"
  wait_for unpack root "$target"
  kill -s "$sig" "$bpid"
  wait "$spid"; code=$?
  want=143; msg="terminated by SIGTERM"
  [ "$sig" = INT ] && { want=130; msg="interrupted (SIGINT)"; }
  if [ "$code" = "$want" ] && grep -q "$msg" "$work/sig-$sig.tar.log"; then ok "SIG$sig: exit $code, \"$msg\""
  else bad "SIG$sig: exit $code, want $want; $(tail -2 "$work/sig-$sig.tar.log")"; fi
  left=$(leftovers root)
  if [ -z "$left" ] && [ ! -e "$target" ]; then ok "SIG$sig: cleaned up (no target, no staging root)"
  else bad "SIG$sig: left $(echo "$left" | head -3 | tr '\n' ' ')"; fi
done

summary
