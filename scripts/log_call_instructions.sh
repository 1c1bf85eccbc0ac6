#!/usr/bin/env bash
# Instructions one async log call takes on the caller's thread (building its arguments, the
# level check, Logger::write and everything it calls), counted by callgrind over 2,000 and 12,000 calls: the difference over 10,000 leaves
# out what the first call and init() cost. With --quill, the same for quill's call on the same
# four values (o11y_quill_call_instructions, built when quill's headers are in shared/peers);
# with --event, o11y's call in its event() form.
# Usage: scripts/log_call_instructions.sh [--quill | --event] [binary]
set -euo pipefail
fn='fields_call*'
bin_name=o11y_log_call_instructions
form=fields
if [[ ${1:-} == --quill ]]; then
  fn='quill_call*'
  bin_name=o11y_quill_call_instructions
  shift
elif [[ ${1:-} == --event ]]; then
  fn='event_call*'
  form=event
  shift
fi
bin=${1:-build/release/bench/$bin_name}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
count() {
  valgrind --tool=callgrind --callgrind-out-file="$out/cg.$1" \
    --toggle-collect="$fn" "$bin" "$1" "$form" >/dev/null 2>&1
  callgrind_annotate "$out/cg.$1" | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }'
}
a=$(count 2000)
b=$(count 12000)
echo "instructions per log call: $(((b - a) / 10000))"
