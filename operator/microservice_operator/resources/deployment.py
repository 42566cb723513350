"""The Deployment ``<name>-<track>`` of one track."""

from __future__ import annotations

from typing import Any

from ..api import Microservice, Track
from .common import child_name, metadata, selector, with_spec_hash

CONTAINER = "app"
PORT_NAME = "http"

RESTRICTED_POD = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
RESTRICTED_CONTAINER = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def _probe(path: str) -> dict[str, Any]:
    return {"httpGet": {"path": path, "port": PORT_NAME}, "periodSeconds": 5}


def _container(ms: Microservice, track: Track) -> dict[str, Any]:
    spec = ms.spec
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": track.image,
        "ports": [{"name": PORT_NAME, "containerPort": spec.port, "protocol": "TCP"}],
        "readinessProbe": _probe(spec.probes.readiness_path),
        "livenessProbe": _probe(spec.probes.liveness_path),
    }
    if track.env:
        container["env"] = track.env
    if track.resources:
        container["resources"] = track.resources
    if spec.restricted_security_context:
        container["securityContext"] = RESTRICTED_CONTAINER
    return container


def build_deployment(ms: Microservice, track: Track, replicas: int) -> dict[str, Any]:
    """The track's Deployment with ``replicas`` pods."""
    name = child_name(ms, track.name)
    pod_spec: dict[str, Any] = {"containers": [_container(ms, track)]}
    if ms.spec.restricted_security_context:
        pod_spec["securityContext"] = RESTRICTED_POD
    pod_meta = {"labels": metadata(ms, name, track.name)["labels"]}
    return with_spec_hash({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(ms, name, track.name),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": selector(ms, track.name)},
            "template": {"metadata": pod_meta, "spec": pod_spec},
        },
    })
