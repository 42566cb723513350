"""The shared Service ``<name>`` and the per-track Services ``<name>-<track>``."""

from __future__ import annotations

from typing import Any

from ..api import PORT_NAME, Microservice, ServiceType
from .common import child_name, metadata, selector, with_spec_hash


def _service(ms: Microservice, name: str, pod_selector: dict[str, str], stype: str,
             track: str | None) -> dict[str, Any]:
    return with_spec_hash({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(ms, name, track),
        "spec": {
            "type": stype,
            "selector": pod_selector,
            "ports": [{"name": PORT_NAME, "port": ms.spec.service.port, "targetPort": ms.spec.port,
                       "protocol": "TCP"}],
        },
    })


def build_service(ms: Microservice, only_track: str | None = None) -> dict[str, Any]:
    """The Service ``<name>``: every track, or only ``only_track`` while failed over to it."""
    return _service(ms, child_name(ms), selector(ms, only_track), ms.spec.service.type.value, None)


def build_track_service(ms: Microservice, track: str) -> dict[str, Any]:
    """The Service ``<name>-<track>``: one track, for direct access and Gateway API backends."""
    return _service(ms, child_name(ms, track), selector(ms, track), ServiceType.CLUSTER_IP.value, track)
