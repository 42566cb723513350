"""IndexSource finds the child names another Microservice's children already hold."""

from __future__ import annotations

from typing import Any

from microservice_operator.handlers import IndexSource
from microservice_operator.resources import shapes


def _ms(name: str, *tracks: str) -> str:
    return shapes.pack({"apiVersion": "microservice-operator.io/v1alpha1", "kind": "Microservice",
                        "metadata": {"name": name, "namespace": "shop"},
                        "spec": {"tracks": [{"name": t} for t in tracks]}})


def _source(owners: dict[tuple[str, str, str], list[str]], **mss: str) -> IndexSource:
    source = IndexSource()
    indexes: dict[str, Any] = {
        "microservice_index": {("shop", n): [body] for n, body in mss.items()},
        "owner_index": owners,
    }
    source.indexes = indexes
    return source


def test_a_track_child_named_like_another_microservices_service_is_claimed() -> None:
    owners = {("Service", "shop", "user-v1"): [("user-v1", "u1")],
              ("Deployment", "shop", "user-v1-a"): [("user-v1", "u2")],
              ("Service", "shop", "user"): [("user", "u3")], ("Deployment", "shop", "user-v2"): [("user", "u4")]}
    source = _source(owners, user=_ms("user", "v1", "v2"), **{"user-v1": _ms("user-v1", "a")})
    assert source.snapshot(("shop", "user")).claimed == {"Service user-v1": "Microservice user-v1"}
    assert source.snapshot(("shop", "user-v1")).claimed == {}  # the first keeps its objects


def test_nothing_is_claimed_for_a_deleted_microservice() -> None:
    assert _source({("Service", "shop", "x"): [("y", "u1")]}).snapshot(("shop", "x")).claimed == {}


def test_the_cached_children_by_kind_and_microservice_come_from_the_owner_index() -> None:
    owners = {("Service", "shop", "user"): [("user", "u3")], ("Deployment", "shop", "user-v1"): [("user", "u4")],
              ("Service", "team", "user"): [("user", "u5")]}
    assert _source(owners).child_names() == {
        "Service": {("shop", "user"): {"user": "u3"}, ("team", "user"): {"user": "u5"}},
        "Deployment": {("shop", "user"): {"user-v1": "u4"}}}
