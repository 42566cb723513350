"""The operator never takes over an object it does not own; the Microservice that came second says so."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import OperatorProcess
from tests.support import kube
from tests.support.ms import manifest, wait_converged, wait_ready_reason

pytestmark = pytest.mark.cluster


def _conflict(namespace: str, name: str) -> dict[str, Any]:
    return wait_ready_reason(namespace, "NameConflict", name)


def _get(namespace: str, kind: str, name: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(kube.kubectl("get", kind, name, "-n", namespace, "-o", "json").stdout)
    return result


def _warnings(namespace: str, name: str) -> list[dict[str, Any]]:
    events = json.loads(kube.kubectl("get", "events", "-n", namespace, "-o", "json").stdout)["items"]
    return [e for e in events if e["reason"] == "NameConflict" and e["involvedObject"]["name"] == name]


def test_a_track_named_like_another_microservice_does_not_take_its_service(
        namespace: str, operator_alive: OperatorProcess) -> None:
    kube.apply_obj(manifest(namespace))
    first = wait_converged(namespace)
    kube.apply_obj(manifest(namespace, name="user-v1", tracks=[("a", 100)], replicas=1))
    ready = _conflict(namespace, "user-v1")
    assert ready["status"] == "False"
    assert "Service user-v1 exists and belongs to Microservice user, not to Microservice user-v1" in ready["message"]
    service = _get(namespace, "service", "user-v1")
    assert [r["uid"] for r in service["metadata"]["ownerReferences"]] == [first["metadata"]["uid"]]
    assert "microservice-operator.io/track" in service["spec"]["selector"]  # still user's track Service
    assert wait_converged(namespace)["status"]["phase"] == "Ready"  # the first keeps its objects
    assert len(_warnings(namespace, "user-v1")) == 1
    assert _get(namespace, "deployment", "user-v1-a")  # what does not collide is still made


def test_an_object_made_by_hand_is_not_taken_over_and_freed_names_are_used(
        namespace: str, operator_alive: OperatorProcess) -> None:
    kube.kubectl("create", "deployment", "web-v1", "-n", namespace, "--image=example/hand:1", "--replicas=1")
    kube.apply_obj(manifest(namespace, name="web", tracks=[("v1", 100)], replicas=2))
    ready = _conflict(namespace, "web")
    assert "Deployment web-v1 exists and belongs to no controller (fields set by kubectl-create)" in ready["message"]
    hand = _get(namespace, "deployment", "web-v1")
    assert not hand["metadata"].get("ownerReferences")
    assert [c["image"] for c in hand["spec"]["template"]["spec"]["containers"]] == ["example/hand:1"]
    assert hand["spec"]["replicas"] == 1
    kube.kubectl("delete", "deployment", "web-v1", "-n", namespace, "--wait=true")
    wait_converged(namespace, name="web", timeout=60)  # rechecked within 30 s, then made
    made = _get(namespace, "deployment", "web-v1")
    assert made["metadata"]["ownerReferences"][0]["name"] == "web"
