"""The peers' virtualenv: Quix Streams and kafka-python with their own pinned dependencies.

Quix Streams pins an older confluent-kafka than cryptopipe, so the peers run as scripts in a
virtualenv of their own under the cache dir (like the jars: made once, then used offline).
``python -m cryptopipe.bench.peers_env`` makes it (scripts/install.sh does).
"""

from __future__ import annotations

import hashlib
import logging
import subprocess
import sys
from pathlib import Path

from cryptopipe.config import default_cache_dir

logger = logging.getLogger(__name__)

REQUIREMENTS = Path(__file__).with_name("peers") / "requirements.txt"
PEERS_DIR = Path(__file__).with_name("peers")


class PeersEnvError(RuntimeError):
    pass


def venv_dir(cache_dir: Path | None = None) -> Path:
    return (cache_dir or default_cache_dir()) / "bench-peers"


def python(cache_dir: Path | None = None) -> Path:
    return venv_dir(cache_dir) / "bin" / "python"


def _wanted() -> str:
    return hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:16]


def ready(cache_dir: Path | None = None) -> bool:
    stamp = venv_dir(cache_dir) / ".cryptopipe-installed"
    return python(cache_dir).exists() and stamp.exists() and stamp.read_text() == _wanted()


def ensure(cache_dir: Path | None = None) -> Path:
    """The peers' Python, made (or brought up to date) first if needed."""
    root = venv_dir(cache_dir)
    if ready(cache_dir):
        return python(cache_dir)
    logger.info("making the bench peers' virtualenv in %s", root)
    try:
        if not python(cache_dir).exists():
            subprocess.run([sys.executable, "-m", "venv", str(root)], check=True)
        subprocess.run(
            [str(python(cache_dir)), "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS)],
            check=True,
        )
    except subprocess.CalledProcessError as exc:
        raise PeersEnvError(
            f"could not install the bench peers into {root} ({exc}); check that PyPI is "
            f"reachable, or run `{sys.executable} -m cryptopipe.bench.peers_env` again"
        ) from exc
    (root / ".cryptopipe-installed").write_text(_wanted())
    return python(cache_dir)


def script(name: str) -> Path:
    """A peer script shipped in cryptopipe/bench/peers/."""
    path = PEERS_DIR / name
    if not path.exists():
        raise PeersEnvError(f"no peer script {path}")
    return path


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    print(ensure())
