#!/usr/bin/env bash
# Installs what the tests need that cargo does not: a Python virtualenv in .venv with moto (the AWS
# emulator the integration tests start on 127.0.0.1), cargo-lambda, aws-sam-translator, cfn-lint and
# the AWS SAM CLI.
# Idempotent: re-running only installs what is missing or changed.
#
# The virtualenv is kept once per machine and requirements file, under the user's cache directory
# (`~/.cache/cdc-pipeline/venv-<hash of scripts/requirements-dev.txt>`, or under
# CDC_PIPELINE_CACHE), and `.venv` links to it: a clean checkout (CI's) takes a minute less than
# installing the same pinned packages again. A checkout whose `.venv` is a directory of its own
# keeps it, updated in place; delete it to switch to the shared one.
set -euo pipefail
cd "$(dirname "$0")/.."
req=scripts/requirements-dev.txt
want=$(sha256sum "$req" | cut -d' ' -f1)

# Installs the requirements into the virtualenv $1 unless its stamp says they are there.
install_into() {
  local venv=$1 stamp=$1/.requirements.sha256
  if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
  fi
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    "$venv/bin/pip" install --disable-pip-version-check -q -r "$req"
    # Written last: a stamp means a complete install.
    echo "$want" > "$stamp"
  fi
}

if [ -d .venv ] && [ ! -L .venv ]; then
  install_into .venv
else
  cache=${CDC_PIPELINE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cdc-pipeline}
  shared=$cache/venv-${want:0:16}
  mkdir -p "$cache"
  # One installer at a time per machine (two checkouts set up at once wait for each other).
  exec 9>"$shared.lock"
  flock 9
  install_into "$shared"
  flock -u 9
  ln -sfn "$shared" .venv
fi
.venv/bin/moto_server --help >/dev/null
echo "setup: .venv ready ($(.venv/bin/python -c 'import moto; print("moto", moto.__version__)'))"
