#!/usr/bin/env bash
# CI: a bounded run of every cargo-fuzz target (run by .ci/run, or alone: scripts/ci-fuzz.sh).
#
#   FUZZ_SECONDS   seconds per target (default 60)
#   FUZZ_TARGETS   space-separated targets (default: every target of fuzz/Cargo.toml)
#   FUZZ_JOBS      targets fuzzed at once (default: the machine's cores, `nproc`)
#
# Wall time (docs/benchmarks.md, "CI wall time"): the build is optimized in 16 codegen units
# (`--codegen-units 16`, cargo-fuzz's documented "faster fuzz builds at the cost of somewhat
# slower fuzz runs"; its default for release builds is 1, which compiles each crate on one core),
# and the targets run FUZZ_JOBS at a time, each on its own core for its FUZZ_SECONDS: the same
# fuzzing per target as one after the other, in a fraction of the wall time.
#
# cargo-fuzz is installed if missing (below). It builds on the stable toolchain without a
# sanitizer (`-s none`): libFuzzer's coverage guidance and Rust's panics and debug assertions
# (overflow checks included) find the bugs. Each target starts from its committed seeds
# (fuzz/seeds/<target>, from fuzz/seeds/generate.py), its kept crash inputs
# (fuzz/regressions/<target>) and the working corpus of earlier runs (fuzz/corpus/<target>,
# git-ignored). A crash fails the run; libFuzzer writes the input to fuzz/artifacts/<target>/.
# Keep it in fuzz/regressions/<target>/ (cargo test replays those through fuzz/checks/), fix the
# bug, and note it in fuzz/regressions/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-60}
# cargo-fuzz, pinned, installed once per machine (not once per checkout: CI runs on a clean
# checkout, and building it takes minutes) under the user's cache directory, or CARGO_FUZZ_ROOT.
fuzz_version=0.13.2
tools=${CARGO_FUZZ_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/cdc-pipeline/cargo-fuzz-$fuzz_version}
cargo_fuzz=$tools/bin/cargo-fuzz
if [ ! -x "$cargo_fuzz" ]; then
  cargo install cargo-fuzz --version "$fuzz_version" --locked --root "$tools"
fi

cd fuzz
targets=${FUZZ_TARGETS:-$("$cargo_fuzz" list)}
jobs=${FUZZ_JOBS:-$(nproc)}
# The same build options for `build` and `run` (different ones make `run` build again).
build_options=(-s none --codegen-units 16)
echo "ci-fuzz: building $(echo $targets | wc -w) targets"
"$cargo_fuzz" build "${build_options[@]}"

# Fuzzes one target; its verdict goes to artifacts/<target>.status, its output to
# artifacts/<target>.log.
fuzz_one() {
  local t=$1
  mkdir -p "corpus/$t" "artifacts/$t"
  local dirs=("corpus/$t")
  [ -d "seeds/$t" ] && dirs+=("seeds/$t")
  [ -d "regressions/$t" ] && dirs+=("regressions/$t")
  # -rss_limit_mb: an input that makes the code allocate without bound is a crash too.
  # -timeout: one input running 10 s is a hang.
  if "$cargo_fuzz" run "$t" "${build_options[@]}" "${dirs[@]}" -- \
      -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
      >"artifacts/$t.log" 2>&1; then
    echo ok >"artifacts/$t.status"
  else
    echo failed >"artifacts/$t.status"
  fi
}

echo "ci-fuzz: ${seconds}s per target, $jobs at a time"
running=0
for t in $targets; do
  rm -f "artifacts/$t.status"
  if [ "$running" -ge "$jobs" ]; then
    wait -n || true
    running=$((running - 1))
  fi
  fuzz_one "$t" &
  running=$((running + 1))
done
wait

failed=()
for t in $targets; do
  if [ "$(cat "artifacts/$t.status" 2>/dev/null)" = ok ]; then
    echo "ci-fuzz: $t: $(grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+ *DONE)" "artifacts/$t.log" | tr '\n' ' ')"
  else
    echo "ci-fuzz: $t FAILED; last lines of its log:" >&2
    tail -40 "artifacts/$t.log" >&2
    failed+=("$t")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "ci-fuzz: crashes in: ${failed[*]} (inputs in fuzz/artifacts/<target>/)" >&2
  exit 1
fi
echo "ci-fuzz: ok"
