#!/usr/bin/env bash
# The project's test command (README "Run every test"): installs the Python test tools (moto, the
# AWS emulator the integration tests start on 127.0.0.1) and runs every test of the workspace,
# including the generated-code freshness test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo test --workspace --all-features "$@"
