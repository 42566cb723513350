"""Microservice manifests and waits shared by the operator's integration tests."""

from __future__ import annotations

from typing import Any

from tests.support import kube
from tests.support.kube import wait_for

MS_LABEL = "microservice-operator.io/microservice"


def manifest(namespace: str, name: str = "user", replicas: int = 10,
             tracks: list[tuple[str, int]] | None = None, **spec: Any) -> dict[str, Any]:
    tracks = tracks or [("v1", 90), ("v2", 10)]
    return {
        "apiVersion": "microservice-operator.io/v1alpha1", "kind": "Microservice",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"replicas": replicas,
                 "tracks": [{"name": t, "image": f"example/{name}:{t}", "weight": w,
                             "env": [{"name": "VERSION", "value": t}]} for t, w in tracks],
                 **spec},
    }


def replicas_by_track(namespace: str, name: str = "user") -> dict[str, int]:
    return kube.ready_counts(namespace, name)


def wait_converged(namespace: str, name: str = "user", timeout: float = 30) -> dict[str, Any]:
    """Until status describes the current generation and the phase is Ready."""
    def done() -> dict[str, Any] | None:
        obj = kube.get_ms(namespace, name)
        status = obj.get("status") or {}
        ok = status.get("observedGeneration") == obj["metadata"]["generation"] and status.get("phase") == "Ready"
        return obj if ok else None

    return wait_for(done, timeout=timeout, what=f"{namespace}/{name} to be Ready at its generation")


def owned(namespace: str, kind: str, name: str = "user") -> list[str]:
    out = kube.kubectl("get", kind, "-n", namespace, "-l", f"{MS_LABEL}={name}", "-o", "name").stdout
    return sorted(line.split("/", 1)[1] for line in out.split())
