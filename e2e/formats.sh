#!/usr/bin/env bash
# e2e: squashfs and ext4 images and the null format, built as the
# unprivileged user: the same root as the tar (debstrap diff), root's
# owners where the builder is no root, e2fsck clean, unsquashfs lists them.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/image.sh"

d=$work/formats
mkdir -p "$d" && chown "$user" "$d"
as_user "$DEBSTRAP" build -q --mode=extract --variant=minbase bookworm "$d/root.tar" "$DM" > "$d/tar.log" 2>&1 || bad "tar: $(tail -2 "$d/tar.log")"
for f in squashfs ext4; do
  t0=$SECONDS
  if as_user "$DEBSTRAP" build -q --mode=extract --variant=minbase bookworm "$d/root.$f" "$DM" > "$d/$f.log" 2>&1; then
    ok "$f built as $user in $((SECONDS-t0))s ($(du -h "$d/root.$f" | cut -f1))"
  else bad "$f: $(tail -3 "$d/$f.log")"; continue; fi
  if out=$("$DEBSTRAP" diff "$d/root.tar" "$d/root.$f" 2>&1); then ok "$f holds the same root as the tar (debstrap diff)"
  else bad "$f differs from the tar: $(echo "$out" | head -5)"; fi
done
if [ -s "$d/root.ext4" ]; then
  e2fsck -fn "$d/root.ext4" > "$d/fsck.log" 2>&1 && ok "e2fsck -fn: clean" || bad "e2fsck: $(tail -3 "$d/fsck.log")"
  st=$(debugfs -R 'stat /usr/bin/passwd' "$d/root.ext4" 2>/dev/null | grep -o 'User: *[0-9]* *Group: *[0-9]*\|Mode: *[0-7]*' | tr -s ' ' | tr '\n' ' ')
  case "$st" in *"User: 0 Group: 0"*"Mode: 04755"*|*"Mode: 04755"*"User: 0 Group: 0"*) ok "debugfs: /usr/bin/passwd root:root 4755" ;; *) bad "debugfs stat: $st" ;; esac
fi
if [ -s "$d/root.squashfs" ] && command -v unsquashfs >/dev/null; then
  unsquashfs -lln "$d/root.squashfs" 2>/dev/null | awk '$NF ~ /\/usr\/bin\/passwd$/ {print $1, $2}' | grep -q '^-rwsr-xr-x 0/0$' &&
    ok "unsquashfs -lln: /usr/bin/passwd -rwsr-xr-x 0/0" || bad "unsquashfs: $(unsquashfs -lln "$d/root.squashfs" 2>&1 | grep passwd | head -2)"
fi
if as_user "$DEBSTRAP" build -q --mode=extract --variant=minbase bookworm /dev/null "$DM" > "$d/null.log" 2>&1; then ok "null: built and checked, nothing written"
else bad "null: $(tail -2 "$d/null.log")"; fi

summary
