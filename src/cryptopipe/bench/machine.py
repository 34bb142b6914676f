"""The machine a run measured on and the versions of what it ran (figures mean little without)."""

from __future__ import annotations

import logging
import os
import platform
import re
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from cryptopipe import __version__
from cryptopipe.stack.jars import pom_path
from cryptopipe.stack.settings import StackSettings

logger = logging.getLogger(__name__)


def cpu_model(cpuinfo: str) -> str:
    """The ``model name`` of /proc/cpuinfo's first processor ('unknown' if it has none)."""
    match = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    return match.group(1).strip() if match else platform.processor() or "unknown"


def memory_gib(meminfo: str) -> float | None:
    match = re.search(r"^MemTotal:\s*(\d+) kB", meminfo, re.MULTILINE)
    return round(int(match.group(1)) / 2**20, 1) if match else None


def pom_property(pom: str, name: str) -> str | None:
    match = re.search(rf"<{re.escape(name)}>([^<]+)</{re.escape(name)}>", pom)
    return match.group(1).strip() if match else None


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _package(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _mariadb_version(settings: StackSettings) -> str | None:
    from cryptopipe.stack.mariadb import admin_connection  # noqa: PLC0415

    try:
        with admin_connection(settings) as conn, conn.cursor() as cur:
            cur.execute("SELECT VERSION()")
            row = cur.fetchone()
            return str(row[0]) if row else None
    except Exception as exc:
        logger.warning("MariaDB's version not readable: %s", exc)
        return None


def _kcat_version() -> str | None:
    try:
        argv = ["kcat", "-V"]
        out = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"kcat - .*?version ([\w.\-]+)", out) or re.search(r"Version ([\w.\-]+)", out)
    return match.group(1) if match else None


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def describe(settings: StackSettings) -> dict[str, Any]:
    """CPU, cores, memory, OS and the versions of Python, Kafka, Spark, MariaDB and ours."""
    kafka_pom = pom_path("kafka").read_text()
    return {
        "cpu_model": cpu_model(_read("/proc/cpuinfo")),
        "cores": os.cpu_count(),
        "memory_gib": memory_gib(_read("/proc/meminfo")),
        "os": platform.platform(),
        "hostname": platform.node(),
        "versions": {
            "cryptopipe": __version__,
            "python": platform.python_version(),
            "kafka": pom_property(kafka_pom, "kafka.version"),
            "spark": _package("pyspark"),
            "mariadb": _mariadb_version(settings),
            "confluent-kafka": _package("confluent-kafka"),
            "librdkafka": _librdkafka(),
            "kcat": _kcat_version(),
        },
    }


def _librdkafka() -> str | None:
    try:
        import confluent_kafka  # noqa: PLC0415

        return str(confluent_kafka.libversion()[0])
    except Exception:
        return None
