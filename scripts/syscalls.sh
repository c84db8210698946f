#!/usr/bin/env bash
# System calls a snapshot makes per file (strace -c -f), on the benchmark's
# tree of small files: a first snapshot (all new), one where every file
# changed, one where one file changed (the rest unchanged: a new browse view
# links them), and one where nothing changed (no snapshot).
set -euo pipefail
bmlua=${1:?usage: syscalls.sh PATH-TO-bmlua [FILES]}
files=${2:-20000}
command -v strace >/dev/null || { echo "syscalls.sh: needs strace (apt-get install strace)"; exit 1; }
dir=$(mktemp -d "${TMPDIR:-/tmp}/bmlua-syscalls.XXXXXX")
trap 'rm -rf "$dir"' EXIT
export BMLUA_REPO="$dir/repo" XDG_CONFIG_HOME="$dir/config" XDG_RUNTIME_DIR="$dir/run"
make_tree() {
python3 - "$dir/tree" "$files" "$1" <<'PY'
import os, sys
root, n, salt = sys.argv[1], int(sys.argv[2]), sys.argv[3]
for i in range(n):
    d = os.path.join(root, "d%03d" % (i % 200))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%06d.txt" % i), "wb") as f:
        f.write(((salt + "file %d " % i) * 128)[:1024].encode())
PY
}
count() {   # label, files it concerns
    strace -c -f -o "$dir/trace" "$bmlua" snapshot -q > /dev/null || true
    local total
    total=$(awk '$NF == "total" { print $(NF-2) }' "$dir/trace")
    awk -v l="$1" -v t="$total" -v n="$2" 'BEGIN { printf "%-40s %9d calls  %6.2f a file\n", l, t, t / n }'
    sleep 1.1   # the next snapshot's id is another second's
}
make_tree a
"$bmlua" init -q
"$bmlua" profile include "$dir/tree" > /dev/null
count "first snapshot (all new)" "$files"
make_tree b
count "every file changed" "$files"
printf 'x' >> "$dir/tree/d000/f000000.txt"
count "one changed, the rest unchanged" "$files"
count "nothing changed (no snapshot)" "$files"
