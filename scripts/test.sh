#!/usr/bin/env bash
# The test command: installs what is missing, checks lint and types, then runs every test
# against real servers (the test session starts its own stack on ports 29000+, beside yours).
# Extra arguments go to pytest, e.g.  scripts/test.sh -m "not cluster"  or  scripts/test.sh -k audit
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
echo "==> ruff" >&2
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "==> mypy" >&2
.venv/bin/mypy
echo "==> pytest" >&2
exec .venv/bin/pytest "$@"
