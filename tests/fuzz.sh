#!/usr/bin/env bash
# Fuzzes every parser that reads uploads (the targets in fuzz/) for a
# bounded time; tests/run calls it after the tests. Installs cargo-fuzz once
# per machine, builds every target once, then runs each from its committed
# seeds (fuzz/seeds/TARGET, copied to a scratch corpus so the tree stays
# clean). A crash, a panic, an input taking over 10 s, or over 2 GiB of
# memory fails the run; the input is kept under fuzz/artifacts/TARGET/.
#
#   tests/fuzz.sh               every target, FUZZ_SECONDS (60) each
#   tests/fuzz.sh TARGET...     only these
#
#   FUZZ_SECONDS=N        time per target
#   FUZZ_SANITIZER=S      none (default), address, ...: the targets are safe
#                         Rust, and cargo-fuzz does not instrument the C
#                         decompressors, so AddressSanitizer would only halve
#                         the executions and lengthen the build
#   ARTIFACTD_SKIP_FUZZ=1 do nothing (for quick local runs of tests/run)
#
# To reproduce or minimise a failure (cargo fuzz needs RUSTC_BOOTSTRAP=1 on
# stable Rust):
#   cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none TARGET artifacts/TARGET/crash-...
#   cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz tmin --sanitizer none TARGET artifacts/TARGET/crash-...
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${ARTIFACTD_SKIP_FUZZ:-}" = 1 ]; then
  echo "== fuzzing skipped (ARTIFACTD_SKIP_FUZZ=1)"
  exit 0
fi

CARGO_FUZZ_VERSION=0.13.2
SECONDS_EACH=${FUZZ_SECONDS:-60}
SANITIZER=${FUZZ_SANITIZER:-none}
# cargo-fuzz passes nightly-only flags (-Z sanitizer options, sancov passes).
export RUSTC_BOOTSTRAP=1
export PATH="$HOME/.cargo/bin:$PATH"

# libfuzzer-sys builds libFuzzer's C++ sources.
source tests/services.sh
command -v c++ >/dev/null 2>&1 || ensure_packages g++
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== building cargo-fuzz $CARGO_FUZZ_VERSION (about 2 minutes, once per machine)"
  cargo install "cargo-fuzz@$CARGO_FUZZ_VERSION" --locked --quiet
fi

cd fuzz
if [ $# -gt 0 ]; then targets=("$@"); else mapfile -t targets < <(cargo fuzz list); fi

echo "== fuzz build (${#targets[@]} targets, sanitizer $SANITIZER)"
start=$(date +%s)
CARGO_TERM_QUIET=true cargo fuzz build --sanitizer "$SANITIZER"
echo "== fuzz build took $(($(date +%s) - start)) s"

scratch=$(mktemp -d /tmp/artifactd-fuzz.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
mkdir -p artifacts/logs
passed=0
failed=()
for t in "${targets[@]}"; do
  corpus="$scratch/corpus/$t"
  mkdir -p "$corpus" "artifacts/$t"
  if [ -d "seeds/$t" ]; then cp seeds/"$t"/* "$corpus"/; fi
  log="artifacts/logs/$t.log"
  mkdir -p artifacts/logs
  echo "== fuzz $t for ${SECONDS_EACH} s"
  start=$(date +%s)
  status=0
  # libFuzzer stops itself; the outer timeout only guards against a stuck
  # process that libFuzzer's own alarm cannot end.
  timeout --kill-after=30 $((SECONDS_EACH + 300)) \
    cargo fuzz run --sanitizer "$SANITIZER" "$t" "$corpus" -- \
    -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 >"$log" 2>&1 || status=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" 2>/dev/null | tail -1 || true)
  echo "   $t: exit $status, ${runs:-?} runs in $(($(date +%s) - start)) s, corpus $(ls "$corpus" | wc -l) inputs"
  if [ "$status" = 0 ]; then
    passed=$((passed + 1))
    continue
  fi
  failed+=("$t")
  echo "---- $t failed; the end of $PWD/$log:" >&2
  grep -v '^"' "$log" | tail -n 60 >&2
  sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | while read -r artifact; do
    case $artifact in /*) ;; *) artifact=$PWD/$artifact ;; esac
    echo "---- failing input: $artifact" >&2
    if [ -f "$artifact" ] && [ "$(stat -c %s "$artifact")" -le 16384 ]; then
      echo "     (base64, for a CI log: base64 -d > input)" >&2
      base64 -w 100 "$artifact" >&2
    fi
  done
done

echo "fuzz: $passed passed, ${#failed[@]} failed"
if [ ${#failed[@]} -gt 0 ]; then
  echo "== fuzzing found failures in: ${failed[*]}" >&2
  exit 1
fi
