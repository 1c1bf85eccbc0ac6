#!/usr/bin/env bash
# Instructions one async log call takes on the caller's thread (Logger::write and everything it
# calls), counted by callgrind over 2,000 and 12,000 calls: the difference over 10,000 leaves
# out what the first call and init() cost. Usage: scripts/log_call_instructions.sh [binary]
set -euo pipefail
bin=${1:-build/release/bench/o11y_log_call_instructions}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
count() {
  valgrind --tool=callgrind --callgrind-out-file="$out/cg.$1" \
    --toggle-collect='o11y::Logger::write*' "$bin" "$1" >/dev/null 2>&1
  callgrind_annotate "$out/cg.$1" | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }'
}
a=$(count 2000)
b=$(count 12000)
echo "instructions per log call: $(((b - a) / 10000))"
