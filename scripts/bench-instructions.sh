#!/usr/bin/env bash
# Instructions per call of each bmlua-bench subject, counted by callgrind:
# repeatable on a shared machine where nanoseconds drift.
#   bash scripts/bench-instructions.sh .build/release/bmlua-bench [CALLS]
set -euo pipefail
bench=$1 calls=${2:-20000}
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install -y valgrind)" >&2; exit 1; }
count() {   # instructions of one run of subject $1 making $2 calls
    BMLUA_BENCH_ONLY=$1 BMLUA_BENCH_CALLS=$2 valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bench" 2>&1 |
        sed -n 's/.*refs: *\([0-9,]*\).*/\1/p' | tr -d ,
}
base=""
for s in a d c b "b'" 'c"' 'b"'; do
    per=$(( ($(count "$s" "$calls") - $(count "$s" 0)) / calls ))
    [ -n "$base" ] || base=$per
    awk -v s="$s" -v n="$per" -v a="$base" 'BEGIN { printf "(%s)\t%6d instructions/call\t%5.2fx (a)\n", s, n, n / a }'
done
