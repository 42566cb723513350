"""The package as users get it: the wheel `pip install .` builds at the repository root, installed
into a clean virtual environment with only its declared dependencies (no cluster needed; the build
and the dependencies come from PyPI, through pip's cache)."""

from __future__ import annotations

import email
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from microservice_operator import __version__

ROOT = Path(__file__).resolve().parents[2]


def _run(*cmd: str | Path, cwd: Path, timeout: float = 240) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PIP_REQUIRE_VIRTUALENV")}
    result = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=timeout, check=False)
    command = " ".join(map(str, cmd))
    assert result.returncode == 0, f"{command} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _checkout_copy(dest: Path) -> Path:
    """The files of a fresh clone (tracked, or new and not ignored): no build/, egg-info or venvs of
    this checkout leak into the wheel, and the build writes nothing here."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        if (ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    return dest


def _requirement(text: str) -> tuple[str, list[str]]:
    """``kopf>=1.45,<2`` and the metadata's ``kopf<2,>=1.45`` alike: (name, sorted specifiers)."""
    match = re.fullmatch(r"([A-Za-z0-9_.-]+)(.*)", text.replace(" ", ""))
    assert match, text
    return match.group(1).lower().replace("_", "-"), sorted(filter(None, match.group(2).split(",")))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """(the wheel, a venv with it and its dependencies installed from hack/constraints.txt)."""
    if not shutil.which("git"):
        pytest.skip("needs git to list the checkout's files")
    tmp = tmp_path_factory.mktemp("packaging")
    src = _checkout_copy(tmp / "src")
    _run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", tmp / "dist", src, cwd=tmp)
    (wheel,) = (tmp / "dist").glob("*.whl")
    _run(sys.executable, "-m", "venv", tmp / "venv", cwd=tmp)
    _run(tmp / "venv" / "bin" / "pip", "install", "--quiet", "-c", ROOT / "hack" / "constraints.txt", wheel, cwd=tmp)
    yield wheel, tmp / "venv"


def test_wheel_holds_the_package_and_its_metadata_only(built: tuple[Path, Path]) -> None:
    wheel, _ = built
    assert wheel.name == f"microservice_operator-{__version__}-py3-none-any.whl"
    names = zipfile.ZipFile(wheel).namelist()
    dist_info = f"microservice_operator-{__version__}.dist-info/"
    assert {n.split("/")[0] + "/" for n in names} == {"microservice_operator/", dist_info}, names
    assert not [n for n in names if re.search(r"(^|/)(tests|hack|bench|samples|charts)/|__pycache__", n)]
    for module in ("__init__.py", "cli.py", "k8s.py", "resources/__init__.py", "routing/__init__.py"):
        assert f"microservice_operator/{module}" in names
    zipped = zipfile.ZipFile(wheel)
    meta = email.message_from_bytes(zipped.read(f"{dist_info}METADATA"))
    assert meta["Name"] == "microservice-operator" and meta["Version"] == __version__
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = [r for r in meta.get_all("Requires-Dist") or [] if "extra ==" not in r]
    assert sorted(map(_requirement, runtime)) == sorted(map(_requirement, project["dependencies"]))
    entry_points = zipped.read(f"{dist_info}entry_points.txt").decode()
    assert "microservice-operator = microservice_operator.cli:main" in entry_points


def test_installed_command_prints_the_version(built: tuple[Path, Path]) -> None:
    _, venv = built
    out = _run(venv / "bin" / "microservice-operator", "--version", cwd=venv)
    assert out == f"microservice-operator {__version__}\n"


def test_installed_command_renders_the_samples(built: tuple[Path, Path]) -> None:
    _, venv = built
    out = _run(venv / "bin" / "microservice-operator", "render", "-f", ROOT / "samples" / "manifests" / "user.yaml",
               cwd=venv)
    assert [(d["kind"], d["metadata"]["name"]) for d in yaml.safe_load_all(out)][:2] == [
        ("Service", "user"), ("Deployment", "user-v1")]


def test_installed_package_imports_whole_with_its_declared_dependencies(built: tuple[Path, Path]) -> None:
    """Every module imports from the venv (the operator's, not this checkout's), and pip finds the
    dependencies consistent: a runtime dependency missing from pyproject.toml fails here."""
    _, venv = built
    script = ("import importlib, pkgutil, microservice_operator as m; "
              "[importlib.import_module(i.name) for i in pkgutil.walk_packages(m.__path__, m.__name__ + '.')]; "
              "print(m.__file__)")
    location = Path(_run(venv / "bin" / "python", "-c", script, cwd=venv).strip())
    assert location.is_relative_to(venv), location
    _run(venv / "bin" / "pip", "check", cwd=venv)
