"""Operator replicas with leader election, for the takeover test and benchmark P9."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import OperatorProcess
from tests.support import kube

LEASE = "microservice-operator"
NAMES = ("replica-a", "replica-b")


def replica(name: str, namespace: str, log_prefix: str, **env: str) -> OperatorProcess:
    """A replica named ``name`` (its POD_NAME) watching ``namespace``, with its Lease there."""
    return OperatorProcess(extra_env={"POD_NAME": name, **env}, log_name=f"{log_prefix}-{name}.log",
                           args=["--leader-elect", "--lease-namespace", namespace, "--namespace", namespace])


def lease(namespace: str) -> dict[str, Any]:
    """The Lease's spec, or {} before any replica made it."""
    result = kube.kubectl("get", "lease", LEASE, "-n", namespace, "-o", "json", check=False)
    spec: dict[str, Any] = json.loads(result.stdout)["spec"] if result.returncode == 0 else {}
    return spec


def holder(namespace: str) -> str:
    """The replica (pod name) holding the Lease, or "" (its identity is ``POD_<random>``)."""
    return str(lease(namespace).get("holderIdentity") or "").split("_")[0]


def converged(namespace: str) -> int:
    """How many Microservices in ``namespace`` are Ready at their generation."""
    items = json.loads(kube.kubectl("get", "ms", "-n", namespace, "-o", "json").stdout)["items"]
    return sum(1 for ms in items if (ms.get("status") or {}).get("phase") == "Ready"
               and ms["status"].get("observedGeneration") == ms["metadata"]["generation"])
