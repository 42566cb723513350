"""Microservice manifests and waits shared by the operator's integration tests."""

from __future__ import annotations

from typing import Any

from tests.support import kube
from tests.support.kube import wait_for

MS_LABEL = "microservice-operator.io/microservice"
SAMPLE_IMAGE = "microservice-operator/user-service:0.1.0"


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


def sample_manifest(namespace: str, name: str, tracks: list[tuple[str, int]], replicas: int,
                    track_env: dict[str, dict[str, str]] | None = None, **spec: Any) -> dict[str, Any]:
    """A Microservice of the user-service image for the real node, with the fault switch enabled.

    Every track answers with X-Served-By ``<track>/<version>``; ``track_env`` adds env per track
    (e.g. FAULT_START=crash for a bad release).
    """
    def env(track: str) -> list[dict[str, str]]:
        values = {"TRACK": track, "VERSION": "1.0.0", "FAULT_INJECTION": "enabled", **(track_env or {}).get(track, {})}
        return [{"name": k, "value": v} for k, v in values.items()]

    return {
        "apiVersion": "microservice-operator.io/v1alpha1", "kind": "Microservice",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"replicas": replicas, "port": 8080,
                 "tracks": [{"name": t, "image": SAMPLE_IMAGE, "weight": w, "env": env(t),
                             "resources": {"requests": {"cpu": "20m", "memory": "48Mi"},
                                           "limits": {"memory": "128Mi"}}} for t, w in tracks],
                 **spec},
    }


def track_selector(name: str, track: str) -> str:
    return f"{MS_LABEL}={name},microservice-operator.io/track={track}"


def effective_weights(namespace: str, name: str) -> dict[str, int]:
    status = kube.get_ms(namespace, name).get("status") or {}
    return {t["name"]: t["effectiveWeight"] for t in status.get("tracks") or []}


def ready_condition(namespace: str, name: str = "user") -> dict[str, Any]:
    """The Microservice's Ready condition as it is now, or {} before the operator wrote one."""
    conds = (kube.get_ms(namespace, name).get("status") or {}).get("conditions") or []
    return next((c for c in conds if c["type"] == "Ready"), {})


def wait_ready_reason(namespace: str, reason: str, name: str = "user", timeout: float = 30) -> dict[str, Any]:
    """Until the Ready condition has ``reason``; returns that condition."""
    def has_it() -> dict[str, Any] | None:
        ready = ready_condition(namespace, name)
        return ready if ready.get("reason") == reason else None

    return wait_for(has_it, timeout=timeout, what=f"{namespace}/{name}: Ready reason {reason}")
