#!/usr/bin/env bash
# The README's first command: install what is missing, build, and run the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target quickstart
echo
echo "=== quickstart: a server span continuing a caller's trace ==="
./build/release/examples/quickstart
