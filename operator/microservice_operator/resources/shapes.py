"""The parts of owned objects the operator reads back, so the watch caches keep only those.

The planner compares a desired object with the live one only on the keys the builders set
(``plan.is_subset``), and reads a few status fields; everything else the API server adds
(defaults, clusterIPs, conditions, managedFields) is never looked at. Projecting each watched
object onto this shape keeps the caches small without changing any decision.
"""

from __future__ import annotations

import json
from typing import Any

Shape = dict[str, Any]  # key -> True (keep the whole value) or a nested Shape (lists: per element)

_META: Shape = {k: True for k in ("name", "namespace", "uid", "resourceVersion", "generation", "labels",
                                  "annotations", "ownerReferences", "deletionTimestamp")}

# The pod spec is kept whole: spec.template passes any PodSpec field through, so the builder may set any.
DEPLOYMENT: Shape = {
    "apiVersion": True, "kind": True, "metadata": _META,
    "spec": {"replicas": True, "selector": True, "strategy": True, "progressDeadlineSeconds": True,
             "template": {"metadata": {"labels": True, "annotations": True}, "spec": True}},
    "status": {**{k: True for k in ("observedGeneration", "replicas", "readyReplicas", "updatedReplicas")},
               # a stalled rollout or refused pods (podhealth.deployment_problem); not the timestamps
               "conditions": {k: True for k in ("type", "status", "reason", "message")}},
}
SERVICE: Shape = {"apiVersion": True, "kind": True, "metadata": _META,
                  "spec": {"type": True, "selector": True, "ports": True}}
# What the Gateway said of the route (routing.gateway_api.route_acceptance), without the timestamps.
HTTPROUTE: Shape = {"apiVersion": True, "kind": True, "metadata": _META, "spec": True,
                    "status": {"parents": {"parentRef": True, "controllerName": True,
                                           "conditions": {k: True for k in ("type", "status", "reason", "message")}}}}
MICROSERVICE: Shape = {"apiVersion": True, "kind": True, "metadata": _META, "spec": True, "status": True}


def project(value: Any, shape: Shape | bool) -> Any:
    """``value`` restricted to ``shape``; a list is projected element by element."""
    if shape is True:
        return value
    if isinstance(value, list):
        return [project(item, shape) for item in value]
    if not isinstance(value, dict) or not isinstance(shape, dict):
        return value
    return {k: project(v, shape[k]) for k, v in value.items() if k in shape}


BY_KIND: dict[str, Shape] = {"Deployment": DEPLOYMENT, "Service": SERVICE, "HTTPRoute": HTTPROUTE,
                             "Microservice": MICROSERVICE}


def pack(obj: dict[str, Any]) -> str:
    """``obj`` as compact JSON, for a cache entry that is read only when its Microservice is reconciled.

    A decoded object costs about ten times its JSON size in Python objects; with thousands of
    cached objects that is most of the operator's memory.
    """
    return json.dumps(obj, separators=(",", ":"))


def unpack(packed: str) -> dict[str, Any]:
    obj: dict[str, Any] = json.loads(packed)
    return obj
