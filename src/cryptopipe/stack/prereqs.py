"""Check the OS programs the local stack needs, with the exact command that installs each."""

from __future__ import annotations

import shutil
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Prerequisite:
    program: str
    package: str
    why: str


STACK_PREREQUISITES = (
    Prerequisite("java", "openjdk-17-jre-headless", "runs the Kafka brokers and Spark"),
    Prerequisite("mariadbd", "mariadb-server", "the MySQL-compatible database"),
    Prerequisite("mariadb-install-db", "mariadb-server", "creates the database files"),
    Prerequisite("mariadb", "mariadb-client", "creates the database and users"),
    Prerequisite("prometheus", "prometheus", "scrapes the pipeline's metrics"),
    Prerequisite("prometheus-alertmanager", "prometheus-alertmanager", "routes alerts"),
)
MAVEN = Prerequisite("mvn", "maven", "fetches the Kafka jars from Maven Central (first run)")


class MissingPrerequisiteError(RuntimeError):
    """Raised with a message that names the missing programs and the command that fixes it."""


def _found(program: str) -> bool:
    # Debian keeps mariadbd in /usr/sbin, which is not on every user's PATH
    return bool(shutil.which(program) or shutil.which(program, path="/usr/sbin:/sbin"))


def missing(prereqs: tuple[Prerequisite, ...] = STACK_PREREQUISITES) -> list[Prerequisite]:
    return [p for p in prereqs if not _found(p.program)]


def require(prereqs: tuple[Prerequisite, ...] = STACK_PREREQUISITES) -> None:
    absent = missing(prereqs)
    if not absent:
        return
    packages = " ".join(dict.fromkeys(p.package for p in absent))
    lines = [f"  - {p.program} ({p.why})" for p in absent]
    raise MissingPrerequisiteError(
        "the local stack needs programs that are not installed:\n"
        + "\n".join(lines)
        + f"\nFix: sudo apt-get update && sudo apt-get install -y {packages}\n"
        + "     (or run scripts/install.sh, which installs everything the project needs)"
    )
