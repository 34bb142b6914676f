#!/usr/bin/env bash
# Installs everything cryptopipe needs on Debian/Ubuntu, idempotently:
#   OS packages (Java, Maven, MariaDB, Prometheus, Alertmanager, Python venv support, Chromium
#   for the report's headless-browser test, kcat for the benchmark),
#   a virtualenv in .venv with the pinned Python packages (constraints.txt),
#   and the Kafka / Spark-connector jars from Maven Central (cached in ~/.cache/cryptopipe).
# Safe to run again: it only does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# --- OS packages ----------------------------------------------------------------------------
need_pkgs=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
have java || need_pkgs+=(openjdk-17-jre-headless)
have mvn || need_pkgs+=(maven)
have mariadbd || need_pkgs+=(mariadb-server)
have mariadb || need_pkgs+=(mariadb-client)
have prometheus || need_pkgs+=(prometheus)
have promtool || need_pkgs+=(prometheus)
have prometheus-alertmanager || need_pkgs+=(prometheus-alertmanager)
have chromium || need_pkgs+=(chromium)
have kcat || need_pkgs+=(kcat)  # a peer of `cryptopipe bench producer` (the C client)
python3 -c 'import ensurepip, venv' 2>/dev/null || need_pkgs+=(python3-venv)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  log "installing OS packages: ${need_pkgs[*]}"
  # Keep the packages' own system services from starting: the stack runs its own copies on
  # loopback (a system Prometheus would hold port 9090). Only if no policy is in place already.
  policy=/usr/sbin/policy-rc.d
  made_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod +x "$policy"
    made_policy=1
  fi
  trap '[ "$made_policy" = 1 ] && $SUDO rm -f "$policy"' EXIT
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    "${need_pkgs[@]}" >/dev/null
else
  log "OS packages: present"
fi

# --- Python ---------------------------------------------------------------------------------
PY=${PYTHON:-python3}
"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || {
  echo "cryptopipe needs Python >= 3.11 (found $("$PY" --version)); set PYTHON=/path/to/python3.11" >&2
  exit 1
}
if [ ! -x .venv/bin/python ]; then
  log "creating virtualenv .venv"
  "$PY" -m venv .venv
fi
stamp=.venv/.cryptopipe-installed
want="$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  log "installing Python packages (pinned by constraints.txt)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -c constraints.txt -e '.[dev]'
  echo "$want" > "$stamp"
else
  log "Python packages: up to date"
fi

# --- JVM jars -------------------------------------------------------------------------------
log "resolving jars from Maven Central (cached after the first run)"
.venv/bin/cryptopipe stack fetch
# --- bench peers ----------------------------------------------------------------------------
# Quix Streams and kafka-python for `cryptopipe bench`, in their own virtualenv (Quix pins an
# older confluent-kafka than ours); cached in ~/.cache/cryptopipe/bench-peers.
log "bench peers' virtualenv (cached after the first run)"
.venv/bin/python -m cryptopipe.bench.peers_env >/dev/null
log "install complete"
