#!/usr/bin/env bash
# CI: no import cycle between the modules of any crate (ARCHITECTURE.md, "Invariants").
set -euo pipefail
cd "$(dirname "$0")/.."
python3 scripts/module_cycles.py cdc-models codegen consumer-sdk cdc-processor cdc-ops cdc-capture testkit xtask
