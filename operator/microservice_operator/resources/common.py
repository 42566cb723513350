"""Labels, owner references and the spec-hash annotation shared by every owned object."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ..api import API_VERSION, KIND, Microservice

FIELD_MANAGER = "microservice-operator"
LABEL_NAME = "app.kubernetes.io/name"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_MICROSERVICE = "microservice-operator.io/microservice"
LABEL_TRACK = "microservice-operator.io/track"
MANAGED_BY = "microservice-operator"
ANNOTATION_SPEC_HASH = "microservice-operator.io/spec-hash"
MAX_NAME = 63


def child_name(ms: Microservice, track: str | None = None) -> str:
    """``<name>`` or ``<name>-<track>``."""
    return f"{ms.name}-{track}" if track else ms.name


def labels(ms: Microservice, track: str | None = None) -> dict[str, str]:
    """Labels of an owned object; a track's objects also carry the track label."""
    result = {LABEL_NAME: ms.name, LABEL_MANAGED_BY: MANAGED_BY, LABEL_MICROSERVICE: ms.name}
    if track:
        result[LABEL_TRACK] = track
    return result


def selector(ms: Microservice, track: str | None = None) -> dict[str, str]:
    """Pod selector: every track of the Microservice, or one track."""
    result = {LABEL_MICROSERVICE: ms.name}
    if track:
        result[LABEL_TRACK] = track
    return result


def selector_string(ms: Microservice) -> str:
    """The pods of every track, as a label selector string (for the scale subresource)."""
    return ",".join(f"{k}={v}" for k, v in selector(ms).items())


def owner_reference(ms: Microservice) -> dict[str, Any]:
    """A controller ownerReference, so deleting the Microservice garbage-collects the object."""
    return {
        "apiVersion": API_VERSION, "kind": KIND, "name": ms.name, "uid": ms.uid,
        "controller": True, "blockOwnerDeletion": True,
    }


def metadata(ms: Microservice, name: str, track: str | None = None) -> dict[str, Any]:
    """Name, namespace, labels, and the owner reference once the Microservice has a uid."""
    meta: dict[str, Any] = {"name": name, "namespace": ms.namespace, "labels": labels(ms, track)}
    if ms.uid:
        meta["ownerReferences"] = [owner_reference(ms)]
    return meta


def with_spec_hash(obj: dict[str, Any]) -> dict[str, Any]:
    """Adds an annotation hashing the object, so a removed field is noticed as a change.

    The operator skips an apply when the live object already holds everything it would send;
    the hash makes a field that was dropped from the desired object count as a difference.
    """
    digest = hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]
    meta = obj["metadata"]
    return {**obj, "metadata": {**meta, "annotations": {**meta.get("annotations", {}), ANNOTATION_SPEC_HASH: digest}}}
