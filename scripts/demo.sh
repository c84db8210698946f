#!/usr/bin/env bash
# The main job on a throw-away repository: a Lua hook running through the host.
set -euo pipefail
bmlua=${1:?usage: demo.sh PATH-TO-bmlua}
say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

say "bmlua eval 'return _VERSION, 6 * 7'"
"$bmlua" eval 'return _VERSION, 6 * 7'
say "bmlua eval 'while true do end'   # stopped by the time limit"
"$bmlua" eval 'error("a hook that fails says where")' || true
