"""`pip install .` gives a working package, not only `pip install -e .`: the wheel holds every
module of the symlinked layout (services/producer, services/processor, observability) and every
data file, and each subpackage imports from the installed copy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
PACKAGE = REPO / "src" / "cryptopipe"
DATA_SUFFIXES = {".sql", ".xml", ".yml", ".yaml", ".json", ".properties", ".txt"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(REPO)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (path,) = out.glob("cryptopipe-*.whl")
    return path


def tracked_package_files() -> set[str]:
    """The package's files as git tracks them, through the symlinked folders."""
    files: set[str] = set()
    for root, _dirs, names in os.walk(PACKAGE, followlinks=True):
        for name in names:
            path = Path(root) / name
            if "__pycache__" in path.parts:
                continue
            if path.suffix == ".py" or path.suffix in DATA_SUFFIXES or name == "py.typed":
                files.add(str(path.relative_to(PACKAGE.parent)))
    listed = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "-z", "src", "services", "observability"],
        capture_output=True,
        check=True,
    ).stdout.decode()
    in_git = {(REPO / p).resolve() for p in listed.split("\0") if p}
    return {f for f in files if (PACKAGE.parent / f).resolve() in in_git}


def test_the_wheel_holds_every_module_and_data_file(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = sorted(tracked_package_files() - names)
    assert not missing, f"not in {wheel.name}: {missing}"
    for wanted in (
        "cryptopipe/processor/job.py",
        "cryptopipe/producer/app.py",
        "cryptopipe/observability/rules/pipeline-health.yml",
        "cryptopipe/stack/maven/spark-kafka.pom.xml",
        "cryptopipe/bench/peers/requirements.txt",
    ):
        assert wanted in names, wanted


def test_every_subpackage_imports_from_the_installed_wheel(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), wheel],
        check=True,
        timeout=300,
    )
    packages = sorted(
        str(init.parent.relative_to(target)).replace("/", ".")
        for init in (target / "cryptopipe").rglob("__init__.py")
    )
    assert {"cryptopipe.processor", "cryptopipe.producer", "cryptopipe.observability"} <= set(
        packages
    )
    code = (
        "import importlib, json, sys\n"
        f"names = {packages!r} + ['cryptopipe.cli']\n"
        "print(json.dumps({n: importlib.import_module(n).__file__ for n in names}))\n"
    )
    # -S: no site processing, so the editable install of this checkout (a .pth finder) is not
    # seen; the dependencies come from this virtualenv's site-packages, after the wheel's copy
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(target), sysconfig.get_paths()["purelib"]]),
    }
    proc = subprocess.run(
        [sys.executable, "-S", "-c", code],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    files = json.loads(proc.stdout)
    outside = {n: f for n, f in files.items() if not f.startswith(str(target))}
    assert not outside, f"imported from elsewhere than the installed wheel: {outside}"
