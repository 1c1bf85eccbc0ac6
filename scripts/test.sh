#!/usr/bin/env bash
# The README's second command: install what is missing, then every check CI runs.
#   1. formatting (clang-format) and static analysis (clang-tidy), zero findings
#   2. the whole suite under AddressSanitizer + UndefinedBehaviorSanitizer (g++)
#   3. the concurrency suites under ThreadSanitizer (clang)
#   4. the libFuzzer harnesses (clang), seconds each; longer on demand:
#        cmake --preset fuzz -DO11Y_FUZZ_SECONDS=600 && cmake --build --preset fuzz --target fuzzers
#        ctest --preset fuzz
#   5. a release build: benchmarks compile, the installed package works for a consumer
# The clang static analyzer is left out of step 1 for time; after the ASan build, run it with
#        run-clang-tidy -checks='-*,clang-analyzer-*' -p build/asan -j "$(nproc)" \
#          $(git ls-files '*.cpp' | grep -vE '^(tests|bench|examples)/')
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
jobs=$(nproc)

# The OTLP tests decode what we send with OpenTelemetry JS's generated protobuf types: a test
# peer, installed here from the npm registry, never committed.
if ! command -v npm >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
if [[ ! -f build/node/node_modules/@opentelemetry/otlp-transformer/package.json ]]; then
  mkdir -p build/node
  npm install --prefix build/node --no-audit --no-fund --silent @opentelemetry/otlp-transformer@0.208.0
fi

# Each step says when it started (seconds into the run), so a slow step shows in CI's log.
step() { printf '\n=== %s (at %ss) ===\n' "$*" "$SECONDS"; }

mapfile -t sources < <(git ls-files '*.cpp' '*.hpp' '*.inl')

step "clang-format"
clang-format --dry-run --Werror "${sources[@]}"

step "ASan + UBSan: build"
cmake --preset asan >/dev/null
cmake --build --preset asan -j "$jobs"

step "clang-tidy"
mapfile -t ours < <(git ls-files 'base/*.cpp' 'config/*.cpp' 'context/*.cpp' 'trace/*.cpp' 'logging/*.cpp' 'metrics/*.cpp' \
                                 'integrations/*.cpp' 'sdk/*.cpp' 'tools/*.cpp')
run-clang-tidy -quiet -extra-arg=-Wno-unknown-warning-option -p build/asan -j "$jobs" "${ours[@]}" >build/clang-tidy.log 2>&1 || {
  grep -E "warning:|error:" build/clang-tidy.log | sort -u | head -50
  echo "clang-tidy found problems (full log: build/clang-tidy.log)"
  exit 1
}

step "ASan + UBSan: all tests"
ctest --preset asan -j "$jobs" --label-exclude install

step "TSan: concurrency tests"
cmake --preset tsan >/dev/null
# The suite it runs, and the examples and tool as a user's clang 14 build compiles them; the
# other suites' test files are g++'s alone (the clang preset builds them all).
cmake --build --preset tsan -j "$jobs" --target o11y_concurrency_tests o11y_examples o11y_tool
ctest --preset tsan -j "$jobs"

step "libFuzzer: every harness over its checked-in corpus, then fuzzing for a few seconds"
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "$jobs" --target fuzzers
ctest --preset fuzz -j "$jobs"

step "Release: benchmarks and examples build, installed package consumer"
cmake --preset release >/dev/null
# Not the test suite: it ran above, and compiling it again at -O3 took a third of this step.
cmake --build --preset release -j "$jobs" --target o11y o11y_prometheus o11y_tool o11y_benchmarks o11y_examples
ctest --preset release -j "$jobs" -L install

step "Shared library: the installed package works for a consumer too"
cmake --preset shared >/dev/null
cmake --build --preset shared -j "$jobs"
ctest --preset shared

step "All checks passed"
