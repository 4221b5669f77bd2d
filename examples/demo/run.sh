#!/usr/bin/env bash
# A real backup and restore with no cloud account: the examples folder is
# backed up to a local file:// target with the demo key, restored, and
# compared. Usage: run.sh SLUICE_BINARY WORKDIR
set -euo pipefail
sluice=${1:?sluice binary}
work=${2:?work dir}
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$work" && mkdir -p "$work"
chmod 600 "$here/key.txt"

echo "== backup $(dirname "$here") → file://$work/store"
url=$("$sluice" backup "$(dirname "$here")" --to "file://$work/store" -R "$here/recipient.txt")
echo "stored: $url"

echo "== restore → $work/restored"
"$sluice" restore "$url" --to "$work/restored" -i "$here/key.txt"

echo "== compare"
diff -r "$(dirname "$here")" "$work/restored"
echo "OK: restored tree is identical"
echo "The object is a plain tar.zst.age; without sluice:"
echo "  age -d -i $here/key.txt ${url#file://} | zstd -d | tar -t"
