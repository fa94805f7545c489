#!/usr/bin/env bash
# Installs what the tests need that cargo does not: a Python virtualenv in .venv with moto (the AWS
# emulator the integration tests start on 127.0.0.1), cargo-lambda, aws-sam-translator, cfn-lint and
# the AWS SAM CLI.
# Idempotent: re-running only installs what is missing or changed.
set -euo pipefail
cd "$(dirname "$0")/.."
req=scripts/requirements-dev.txt
stamp=.venv/.requirements.sha256
want=$(sha256sum "$req" | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] ; then
  python3 -m venv .venv
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/pip install --disable-pip-version-check -q -r "$req"
  echo "$want" > "$stamp"
fi
.venv/bin/moto_server --help >/dev/null
echo "setup: .venv ready ($(.venv/bin/python -c 'import moto; print("moto", moto.__version__)'))"
