"""Images built with Docker, and the Helm chart, exercised against the local cluster."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from tests.support import kube

DOCKERD_PID = kube.STATE / "dockerd.pid"
TAG = "0.1.0"
OPERATOR_IMAGE = f"microservice-operator:{TAG}"
USER_IMAGE = f"microservice-operator/user-service:{TAG}"
ORDER_IMAGE = f"microservice-operator/order-service:{TAG}"


def run(*cmd: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False,
                            env=kube.env_with_kubeconfig())
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(scope="session")
def images() -> Iterator[None]:
    """Builds the three images (and starts dockerd, and makes the base image, if needed)."""
    started_here = not DOCKERD_PID.exists()
    result = subprocess.run([str(kube.ROOT / "hack" / "images.sh")], capture_output=True, text=True, timeout=1200,
                            check=False)
    if result.returncode != 0:
        pytest.fail(f"building the images failed:\n{result.stdout}\n{result.stderr}")
    yield
    if started_here and DOCKERD_PID.exists():
        run(str(kube.ROOT / "hack" / "dockerd.sh"), "stop", check=False)
