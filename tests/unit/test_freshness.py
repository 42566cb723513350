from __future__ import annotations

from typing import Any

from microservice_operator.controller import Freshness, Outcome, Snapshot, observed_from


def obj(kind: str, name: str, rv: int, uid: str = "", **extra: Any) -> dict[str, Any]:
    labels = {"microservice-operator.io/track": name.rsplit("-", maxsplit=1)[-1]} if kind == "Deployment" else {}
    return {"kind": kind, "metadata": {"name": name, "namespace": "ns", "resourceVersion": str(rv),
                                       "uid": uid or f"uid-{name}", "labels": labels}, **extra}


def test_own_writes_overlay_a_stale_cache_until_it_catches_up() -> None:
    fresh = Freshness()
    key = ("ns", "user")
    fresh.record(key, Outcome(written=[obj("Deployment", "user-v1", 7, spec={"replicas": 3}),
                                       obj("Service", "user-v1", 8)]))
    stale = Snapshot(obj("Microservice", "user", 5), [obj("Deployment", "user-v1", 6, spec={"replicas": 1})])
    seen = fresh.overlay(key, stale)
    assert observed_from(seen.children).deployments["v1"]["spec"] == {"replicas": 3}
    assert "user-v1" in observed_from(seen.children).services  # written, not yet in the cache
    caught_up = Snapshot(stale.body, [obj("Deployment", "user-v1", 9, spec={"replicas": 3}),
                                      obj("Service", "user-v1", 8)])
    assert fresh.overlay(key, caught_up).children == caught_up.children
    assert fresh.overlay(key, stale).children == stale.children  # forgotten once caught up


def test_deleted_children_are_hidden_per_microservice() -> None:
    fresh = Freshness()
    fresh.record(("ns", "a"), Outcome(deleted=["uid-a-v2"]))
    fresh.record(("ns", "b"), Outcome(deleted=["uid-b-v2"]))
    snap_a = Snapshot(obj("Microservice", "a", 1), [obj("Deployment", "a-v2", 3)])
    assert fresh.overlay(("ns", "a"), snap_a).children == []
    fresh.overlay(("ns", "a"), Snapshot(snap_a.body, []))  # a's cache caught up with the delete
    snap_b = Snapshot(obj("Microservice", "b", 1), [obj("Deployment", "b-v2", 3)])
    assert fresh.overlay(("ns", "b"), snap_b).children == []  # b's own record survived a's clean-up
