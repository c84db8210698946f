#!/usr/bin/env bash
# Snapshot speed on many small files, against copying the same tree with cp -r
# and syncing (the baseline, measured in the same run).
set -euo pipefail
bmlua=${1:?usage: bench-snapshot.sh PATH-TO-bmlua [FILES]}
files=${2:-20000}
dir=$(mktemp -d "${TMPDIR:-/tmp}/bmlua-bench.XXXXXX")
trap 'rm -rf "$dir"' EXIT
export BMLUA_REPO="$dir/repo" XDG_CONFIG_HOME="$dir/config" XDG_RUNTIME_DIR="$dir/run"
python3 - "$dir/tree" "$files" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = os.path.join(root, "d%03d" % (i % 200))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%06d.txt" % i), "wb") as f:
        f.write((("file %d " % i) * 128)[:1024].encode())
PY
sync
t() { local s=$(date +%s.%N); "$@" > /dev/null; awk -v a="$s" -v b="$(date +%s.%N)" 'BEGIN { print b - a }'; }
base=$(t sh -c "cp -r '$dir/tree' '$dir/copy' && sync")
"$bmlua" init -q
"$bmlua" profile include "$dir/tree"
first=$(t "$bmlua" snapshot -q)
second=$(t "$bmlua" snapshot -q)
sid=$("$bmlua" snapshots --json | python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["sid"])')
restore=$(t "$bmlua" snapshots restore "$sid" --to "$dir/restored" -q)
printf 'files: %d of 1 KiB\n' "$files"
printf '%-44s %7.2f s\n' "baseline: cp -r + sync" "$base" "bmlua snapshot (all new: newbu + newver)" "$first" \
    "bmlua snapshot (nothing changed)" "$second" "bmlua snapshots restore (into a new folder)" "$restore"
awk -v b="$base" -v f="$first" -v s="$second" -v r="$restore" \
    'BEGIN { printf "ratio to baseline: first %.1fx, restore %.1fx   nothing-changed/first: %.2f\n", f / b, r / b, s / f }'
