"""The images (operator, samples, their PostgreSQL), and running commands (docker, helm) for the tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support import kube

TAG = "0.1.0"
OPERATOR_IMAGE = f"microservice-operator:{TAG}"
USER_IMAGE = f"microservice-operator/user-service:{TAG}"
ORDER_IMAGE = f"microservice-operator/order-service:{TAG}"
POSTGRES_IMAGE = "microservice-operator/postgres:15"  # hack/postgres-image.sh
ALL = (OPERATOR_IMAGE, USER_IMAGE, ORDER_IMAGE, POSTGRES_IMAGE)
DOCKERD_PID = kube.STATE / "dockerd.pid"


def run(*cmd: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Runs ``cmd`` with the cluster's kubeconfig and binaries; fails with its output unless ``check`` is off."""
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False,
                            env=kube.env_with_kubeconfig())
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def build() -> None:
    """Builds the images (starting dockerd and making the base image if needed), as `make docker-build`."""
    run(str(kube.ROOT / "hack" / "images.sh"), timeout=1200)


def build_previous_release() -> tuple[str, Path]:
    """`hack/previous-release.sh`: the operator image of the release the upgrade test starts from,
    and that release's tree (its chart and CRD)."""
    image, tree = run(str(kube.ROOT / "hack" / "previous-release.sh"), timeout=600).stdout.splitlines()[-1].split()
    return image, Path(tree)


def load_into_real_node(*images: str) -> None:
    """`make cluster-images`: the built images (or ``images``) into the local cluster's real node."""
    run(str(kube.ROOT / "hack" / "cluster" / "load-images.sh"), *(images or ALL), timeout=600)
