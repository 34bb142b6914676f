#!/usr/bin/env bash
# The run command: installs what is missing, then runs the pipeline end to end on the local
# stack (synthetic trades by default) with live progress until Ctrl-C. Arguments go to
# `cryptopipe run`, e.g.  scripts/run.sh --rate 2000   or   scripts/run.sh --source binance
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec .venv/bin/cryptopipe run "$@"
