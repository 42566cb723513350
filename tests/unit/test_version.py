"""One version: microservice_operator.__version__, which pyproject.toml reads (setuptools' dynamic
version). What repeats it elsewhere (the chart, the image tag) is held to it here."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import version
from pathlib import Path

import yaml
from microservice_operator import __version__

ROOT = Path(__file__).resolve().parents[2]


def test_pyproject_takes_the_version_from_the_package() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"] and project["project"]["dynamic"] == ["version"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "microservice_operator.__version__"}


def test_the_installed_distribution_has_the_version() -> None:
    # A stale (editable) install names an older version: hack/install.sh reinstalls when pyproject changes.
    assert version("microservice-operator") == __version__


def test_chart_app_version_is_the_package_version() -> None:
    chart = yaml.safe_load((ROOT / "charts" / "microservice-operator" / "Chart.yaml").read_text())
    assert chart["appVersion"] == __version__, "bump appVersion in Chart.yaml with __version__"


def test_default_image_tag_is_the_package_version() -> None:
    # The chart's image.tag defaults to appVersion: the tag make docker-build gives the image.
    makefile = re.search(r"^IMAGE_TAG \?= (\S+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    script = re.search(r"^tag=\$\{IMAGE_TAG:-(\S+)\}$", (ROOT / "hack" / "images.sh").read_text(), re.MULTILINE)
    tests = re.search(r'^TAG = "(\S+)"$', (ROOT / "tests" / "support" / "images.py").read_text(), re.MULTILINE)
    assert makefile and script and tests
    assert makefile.group(1) == script.group(1) == tests.group(1) == __version__
