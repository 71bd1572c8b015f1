#!/usr/bin/env bash
# make e2e-full only (E2E_FULL=1): the long comparisons. For bookworm,
# trixie and noble, minbase, standard and minbase plus the popular set
# (POPULAR, ~700 packages) are built as the unprivileged user in
# --mode=auto and --mode=unshare; the two must not differ outside
# e2e/auto.ignore (docs/fidelity.md says why for each), auto's image must
# pass dpkg --audit, and /etc/passwd and /etc/group must be the same.
# Then --mode=native alone on the popular set: every package dpkg --audit
# names must be in native's warning; and finished as a user would (dpkg
# --configure -a in a chroot), the image must equal unshare's outside
# e2e/auto.ignore, e2e/native.ignore (what native alone leaves out) and
# the numeric ids of accounts (compared by name). Long: an hour from a
# cold cache.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/image.sh"

POPULAR=curl,wget,git,openssh-client,openssh-server,procps,ca-certificates,gnupg,dirmngr,netbase,build-essential,python3,python3-pip,python3-venv,perl,locales,tzdata,sudo,less,vim,nano,iproute2,iputils-ping,net-tools,unzip,zip,xz-utils,bzip2,file,jq,rsync,cron,logrotate,systemd,systemd-sysv,dbus,nginx,apache2,postgresql,default-jre-headless,nodejs,npm,ruby,php-cli,golang-go,cmake,pkg-config,libssl-dev,man-db,bash-completion,apt-transport-https,lsb-release,gosu,tini,supervisor
ignore=()
while read -r p; do
  case "$p" in ''|'#'*) continue ;; esac
  ignore+=(--ignore "$p")
done < "$here/auto.ignore"

# sources SUITE: the MIRROR arguments for SUITE.
sources() {
  case $1 in
    noble) printf '%s\n' "deb $UM noble main universe" "deb $UM noble-updates main universe" "deb $UM noble-security main universe" ;;
    *) printf '%s\n' "$DM" ;;
  esac
}

# build NAME MODE SUITE FLAGS...: one build as the user; 0 if it worked.
build() {
  local name=$1 mode=$2 suite=$3 src=(); shift 3
  mapfile -t src < <(sources "$suite")
  local t0=$SECONDS
  # Not -q: the log must keep native mode's warnings (native_alone).
  if as_user "$DEBSTRAP" build --mode="$mode" "$@" "$suite" "$work/$name.tar" "${src[@]}" > "$work/$name.log" 2>&1; then
    echo "    $name: $((SECONDS-t0))s, $(du -h "$work/$name.tar" | cut -f1)"
    return 0
  fi
  bad "$name: build failed: $(tail -3 "$work/$name.log")"
  return 1
}

# audit NAME: dpkg --audit of the image, extracted.
audit() {
  local dir=$work/$1.root
  rm -rf "$dir"; mkdir -p "$dir"
  tar -C "$dir" --numeric-owner --xattrs --xattrs-include='*' -xpf "$work/$1.tar" 2>/dev/null
  dpkg --root="$dir" --audit 2>&1
}

# E2E_FULL_ONLY="trixie:popular noble:native …" runs only those cases.
only() { [ -z "${E2E_FULL_ONLY:-}" ] || [[ " $E2E_FULL_ONLY " == *" $1 "* ]]; }

# compare SUITE SETNAME FLAGS...
compare() {
  local suite=$1 set=$2; shift 2
  only "$suite:$set" || return 0
  local a=$suite-$set-auto u=$suite-$set-unshare
  build "$a" auto "$suite" "$@" || return
  if [ -e "$work/$u.tar" ]; then echo "    $u: built for native_alone"
  else build "$u" unshare "$suite" "$@" || return; fi
  if "$DEBSTRAP" diff "${ignore[@]}" "$work/$u.tar" "$work/$a.tar" > "$work/$suite-$set.diff" 2>&1; then
    ok "$suite $set: auto equals unshare outside e2e/auto.ignore"
  else
    bad "$suite $set: auto differs from unshare ($(tail -1 "$work/$suite-$set.diff")):"
    grep -v '^ ' "$work/$suite-$set.diff" | head -15 | sed 's/^/    /'
  fi
  local f
  for f in etc/passwd etc/group; do
    if cmp -s <(tar -xOf "$work/$u.tar" "./$f") <(tar -xOf "$work/$a.tar" "./$f"); then ok "$suite $set: /$f the same in both"
    else bad "$suite $set: /$f differs: $(diff <(tar -xOf "$work/$u.tar" "./$f") <(tar -xOf "$work/$a.tar" "./$f") | head -4 | tr '\n' ' ')"; fi
  done
  # Java's trust store: dated at each run, so in auto.ignore; its
  # entries and their order must be the same.
  local ks=./etc/ssl/certs/java/cacerts jkslist=$work/jkslist
  if tar -tf "$work/$u.tar" "$ks" > /dev/null 2>&1; then
    tar -xOf "$work/$u.tar" "$ks" > "$work/cacerts.u"; tar -xOf "$work/$a.tar" "$ks" > "$work/cacerts.a" 2>/dev/null
    [ -x "$jkslist" ] || go -C "$top" build -o "$jkslist" ./internal/jks/jkslist
    if "$jkslist" "$work/cacerts.u" > "$work/cacerts.u.txt" && "$jkslist" "$work/cacerts.a" > "$work/cacerts.a.txt" &&
      cmp -s "$work/cacerts.u.txt" "$work/cacerts.a.txt"; then
      ok "$suite $set: Java's cacerts has the same $(wc -l < "$work/cacerts.u.txt") entries in the same order"
    else bad "$suite $set: Java's cacerts differs: $(diff "$work/cacerts.u.txt" "$work/cacerts.a.txt" 2>&1 | head -3 | tr '\n' ' ')"; fi
  fi
  local out; out=$(audit "$a")
  if [ -z "$out" ]; then ok "$suite $set: dpkg --audit silent in auto's image"
  else bad "$suite $set: dpkg --audit in auto's image: $(echo "$out" | head -5 | tr '\n' ' ')"; fi
  rm -rf "$work/$a.root" "$work/$a.tar" "$work/$u.tar"
}

# finish DIR: what a user with root does with native's image when native
# left packages: dpkg --configure -a in a chroot (a mount namespace of its
# own with /proc, and tmpfs on /dev/shm and /run as the exec modes mount
# them; daemons kept from starting by policy-rc.d); then the logs go, as
# the exec modes' cleanup removes them.
finish() {
  local dir=$1 rc=0
  printf '#!/bin/sh\nexit 101\n' > "$dir/usr/sbin/policy-rc.d" && chmod 755 "$dir/usr/sbin/policy-rc.d"
  unshare --mount --pid --fork --kill-child sh -ec '
    mount --make-rprivate /
    mount -t proc proc "$1/proc"
    mount -t tmpfs tmpfs "$1/dev/shm"
    mount -t tmpfs tmpfs "$1/run"
    exec chroot "$1" env -i DEBIAN_FRONTEND=noninteractive DEBCONF_NONINTERACTIVE_SEEN=true \
      LC_ALL=C.UTF-8 LANGUAGE=C.UTF-8 LANG=C.UTF-8 HOME=/root SOURCE_DATE_EPOCH="$2" \
      PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin dpkg --configure -a' \
    sh "$dir" "$SOURCE_DATE_EPOCH" || rc=$?
  rm -f "$dir/usr/sbin/policy-rc.d" "$dir/var/log/dpkg.log" "$dir/var/log/alternatives.log" "$dir/var/cache/ldconfig/aux-cache"
  return $rc
}

# renumber A-ROOT B-ROOT < B-MANIFEST: B's manifest with each owner given
# A's id for the same account name (an account A lacks keeps its id plus
# 100000), so that images whose accounts were made in another order
# compare by name.
renumber() {
  awk -v ap="$1/etc/passwd" -v ag="$1/etc/group" -v bp="$2/etc/passwd" -v bg="$2/etc/group" '
    function load(file, byname, byid,   l, f) {
      while ((getline l < file) > 0) { split(l, f, ":"); byname[f[1]] = f[3]; byid[f[3]] = f[1] }
    }
    function map(id, bid, aname,   n) {
      n = bid[id]; if (n != "" && n in aname) return aname[n]; return id + 100000
    }
    BEGIN { load(ap, au, x1); load(ag, ag2, x2); load(bp, y1, bu); load(bg, y2, bgid) }
    /^#/ || NF < 4 { print; next }
    { split($4, o, ":"); $4 = map(o[1], bu, au) ":" map(o[2], bgid, ag2); print }'
}

# accounts ROOT: passwd and group with names for ids, sorted.
accounts() {
  awk -F: -v g="$1/etc/group" 'BEGIN { while ((getline l < g) > 0) { split(l, f, ":"); gn[f[3]] = f[1] } }
    { $3 = "-"; $4 = gn[$4]; print }' OFS=: "$1/etc/passwd" | sort
  cut -d: -f1,4 "$1/etc/group" | sort
}

# native_alone SUITE: the popular set natively; what dpkg --audit names
# must be in the warning.
native_alone() {
  local suite=$1 n=$1-popular-native
  only "$suite:native" || return 0
  build "$n" native "$suite" --variant=minbase --include="$POPULAR" || return
  local left audited missing=
  left=$(sed -n "s/.*left for 'dpkg --configure -a': \([^;\"]*\).*/\1/p" "$work/$n.log" | tr ' ' '\n' | sort -u)
  audited=$(audit "$n" | sed -n 's/^ \([a-z0-9][a-z0-9+.:-]*\) .*/\1/p' | sort -u)
  for p in $audited; do
    echo "$left" | grep -qx -e "$p" -e "${p%%:*}" || missing="$missing $p"
  done
  if [ -z "$missing" ]; then ok "$suite popular native: every package dpkg --audit names ($(echo $audited | wc -w)) is in the warning ($(echo $left | wc -w) named)"
  else bad "$suite popular native: dpkg --audit names packages the warning does not:$missing"; fi
  # No package marked installed lacks an effect its scripts would have
  # had: once dpkg configured what native left (it runs no script of a
  # package already configured), the image equals unshare's.
  local u=$suite-popular-unshare dir=$work/$n.root uroot=$work/$suite-popular-unshare.root
  if ! build "$u" unshare "$suite" --variant=minbase --include="$POPULAR"; then rm -rf "$dir" "$work/$n.tar"; return; fi
  if ! finish "$dir" > "$work/$n.finish.log" 2>&1; then
    bad "$suite popular native: dpkg --configure -a failed on native's image: $(tail -3 "$work/$n.finish.log")"
  else
    out=$(dpkg --root="$dir" --audit 2>&1)
    [ -z "$out" ] || bad "$suite popular native: dpkg --audit after dpkg --configure -a: $(echo "$out" | head -3 | tr '\n' ' ')"
    rm -rf "$uroot"; mkdir -p "$uroot"
    tar -C "$uroot" --numeric-owner --xattrs --xattrs-include='*' -xpf "$work/$u.tar" 2>/dev/null
    "$DEBSTRAP" manifest "$uroot" > "$work/$u.manifest"
    "$DEBSTRAP" manifest "$dir" | renumber "$uroot" "$dir" > "$work/$n.manifest"
    if "$DEBSTRAP" diff "${ignore[@]}" --ignore-file "$here/native.ignore" "$work/$u.manifest" "$work/$n.manifest" |
      grep -v -e '/__pycache__' -e '^ ' -e '^[0-9]* differences' -e '^$' > "$work/$n.diff"; [ -s "$work/$n.diff" ]; then
      bad "$suite popular native: finished by dpkg, differs from unshare ($(wc -l < "$work/$n.diff") paths):"
      head -15 "$work/$n.diff" | sed 's/^/    /'
    else ok "$suite popular native: finished by dpkg --configure -a, equals unshare outside the lists (ids by name)"; fi
    if cmp -s <(accounts "$uroot") <(accounts "$dir"); then ok "$suite popular native: the same accounts, groups and members as unshare"
    else bad "$suite popular native: accounts differ: $(diff <(accounts "$uroot") <(accounts "$dir") | head -4 | tr '\n' ' ')"; fi
  fi
  rm -rf "$dir" "$uroot" "$work/$n.tar" "$work/$u.manifest" "$work/$n.manifest"
}

for suite in bookworm trixie noble; do
  step "$suite: --mode=auto against --mode=unshare, as $user"
  compare "$suite" minbase --variant=minbase
  compare "$suite" standard --variant=standard
  step "$suite: --mode=native alone, the popular set"
  native_alone "$suite"
  compare "$suite" popular --variant=minbase --include="$POPULAR"
done
summary
