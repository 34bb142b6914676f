#!/usr/bin/env bash
# The run command: installs what is missing, then runs the pipeline end to end on the local
# stack (synthetic trades by default). Arguments go to `cryptopipe run`, e.g.
#   scripts/run.sh --source binance --symbols btcusdt,ethusdt
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
if .venv/bin/cryptopipe run --help >/dev/null 2>&1; then
  exec .venv/bin/cryptopipe run "$@"
fi
.venv/bin/cryptopipe stack up
.venv/bin/cryptopipe stack status
