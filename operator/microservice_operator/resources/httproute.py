"""The HTTPRoute ``<name>`` whose backendRefs carry the routing weights (Gateway API strategy)."""

from __future__ import annotations

from typing import Any

from ..api import GatewaySpec, Microservice
from .common import child_name, metadata, with_spec_hash

GATEWAY_GROUP = "gateway.networking.k8s.io"
HTTPROUTE_API_VERSION = f"{GATEWAY_GROUP}/v1"


def _parent_refs(gateway: GatewaySpec) -> list[dict[str, Any]]:
    refs = []
    for ref in gateway.parent_refs:
        out: dict[str, Any] = {"group": GATEWAY_GROUP, "kind": "Gateway", "name": ref.name}
        if ref.namespace:
            out["namespace"] = ref.namespace
        if ref.section_name:
            out["sectionName"] = ref.section_name
        refs.append(out)
    return refs


def build_httproute(ms: Microservice, weights: dict[str, int]) -> dict[str, Any]:
    """One rule matching the path prefix, one weighted backendRef per track Service."""
    gateway = ms.spec.routing.gateway
    assert gateway is not None  # guaranteed by Routing's validator
    spec: dict[str, Any] = {
        "parentRefs": _parent_refs(gateway),
        "rules": [{
            "matches": [{"path": {"type": "PathPrefix", "value": gateway.path}}],
            "backendRefs": [
                {"group": "", "kind": "Service", "name": child_name(ms, t.name), "port": ms.spec.service.port,
                 "weight": weights[t.name]}
                for t in ms.spec.tracks
            ],
        }],
    }
    if gateway.hostnames:
        spec["hostnames"] = gateway.hostnames
    return with_spec_hash({
        "apiVersion": HTTPROUTE_API_VERSION, "kind": "HTTPRoute",
        "metadata": metadata(ms, child_name(ms)), "spec": spec,
    })
