"""JVM jars resolved from Maven Central with a small pom and ``mvn``, cached outside the repo.

The first resolution downloads into the user's Maven repository and copies the runtime
classpath into ``<cache_dir>/jars/<name>/``; later runs find the copy (with its ``.complete``
marker) and never touch the network, so the stack starts offline once the jars are cached.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import subprocess
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from cryptopipe.processor.settings import ProcessorSettings

logger = logging.getLogger(__name__)
ProcessorSettingsT = TypeVar("ProcessorSettingsT", bound="ProcessorSettings")

MARKER = ".complete"


class JarResolutionError(RuntimeError):
    """mvn could not resolve the jars; the message says what to do."""


def pom_path(name: str) -> Path:
    """The packaged pom ``cryptopipe/stack/maven/<name>.pom.xml``."""
    ref = resources.files("cryptopipe.stack") / "maven" / f"{name}.pom.xml"
    return Path(str(ref))


def pom_names() -> list[str]:
    """Every packaged pom (``kafka``, ``spark-kafka`` ...)."""
    folder = resources.files("cryptopipe.stack") / "maven"
    return sorted(
        e.name.removesuffix(".pom.xml") for e in folder.iterdir() if e.name.endswith(".pom.xml")
    )


def resolve_maven(name: str, cache_dir: Path, *, timeout_s: float = 900.0) -> Path:
    """Return a directory holding the runtime classpath of pom ``name``, resolving it if needed.

    The directory name carries a digest of the pom, so changing a version in the pom resolves a
    fresh set instead of mixing old and new jars.
    """
    pom = pom_path(name)
    digest = hashlib.sha256(pom.read_bytes()).hexdigest()[:12]
    dest = cache_dir / "jars" / f"{name}-{digest}"
    if (dest / MARKER).exists():
        return dest
    mvn = shutil.which("mvn")
    if mvn is None:
        raise JarResolutionError(
            "Maven (mvn) is needed once to fetch jars from Maven Central. "
            "Fix: sudo apt-get install -y maven   (or run scripts/install.sh)"
        )
    tmp = dest.with_name(dest.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    cmd = [
        mvn,
        "-q",
        "-B",
        "-f",
        str(pom),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={tmp}",
        "-DincludeScope=runtime",
    ]
    logger.info("resolving %s jars from Maven Central into %s (first run only)", name, dest)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as exc:
        raise JarResolutionError(
            f"mvn did not finish resolving {name} in {timeout_s:.0f}s; check network access "
            "to Maven Central and try again"
        ) from exc
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise JarResolutionError(f"mvn failed to resolve {name} ({pom}):\n{tail}")
    (tmp / MARKER).write_text(digest)
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    return dest


def classpath(lib_dir: Path) -> str:
    """A Java classpath with every jar of ``lib_dir``."""
    return str(lib_dir / "*")


def jar_files(lib_dir: Path) -> list[Path]:
    return sorted(lib_dir.glob("*.jar"))


def with_spark_kafka_jars(settings: ProcessorSettingsT) -> ProcessorSettingsT:
    """The local deployment's default for a processor given no jars: Spark's Kafka source
    resolved by this stack tooling into the cache dir (a cluster or image sets
    CRYPTOPIPE_SPARK_JARS or CRYPTOPIPE_SPARK_JARS_PACKAGES and never gets here)."""
    if settings.spark_jars or settings.spark_jars_packages:
        return settings
    lib = resolve_maven("spark-kafka", settings.cache_dir)
    logger.info("Spark's Kafka source: the jars in %s", lib)
    return settings.model_copy(update={"spark_jars": str(lib)})
