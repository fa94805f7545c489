#!/usr/bin/env bash
# The project's test command (README "Run every test"): installs the Python test tools (moto, the
# AWS emulator the integration tests start on 127.0.0.1) and runs every test of the workspace,
# including the generated-code freshness test.
#
# With cargo-nextest (on this project's machines; `cargo install cargo-nextest --locked`
# elsewhere) the tests of all binaries share one pool (.config/nextest.toml: 4 at a time, as
# most of them wait on an emulator or PostgreSQL), then the doc tests run with `cargo test --doc`
# (nextest does not run doc tests). Without it, `cargo test` runs everything, one test binary
# after the other (also with nextest installed when CDC_TEST_WITH_CARGO_TEST is set). Both run
# the same tests; docs/benchmarks.md ("CI wall time") has the times.
# Arguments go to the runner (`scripts/test.sh -p cdc-processor reliability`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
if cargo nextest --version >/dev/null 2>&1 && [ -z "${CDC_TEST_WITH_CARGO_TEST:-}" ]; then
  cargo nextest run --workspace --all-features --no-fail-fast "$@"
  cargo test --workspace --all-features --doc "$@"
else
  cargo test --workspace --all-features "$@"
fi
