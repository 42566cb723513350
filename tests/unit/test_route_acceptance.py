"""The GatewayAPI router: what a Gateway said of the HTTPRoute (status.parents, read as RouteAccepted
True, False or Unknown), and the backendRef weights it is given."""

from __future__ import annotations

from typing import Any

import pytest
from microservice_operator.routing.gateway_api import route_acceptance, serving_weights


def cond(ctype: str, status: str, reason: str = "", message: str = "") -> dict[str, str]:
    return {"type": ctype, "status": status, "reason": reason, "message": message}


def route(*parents: list[dict[str, str]]) -> dict[str, Any]:
    return {"metadata": {"name": "user", "namespace": "shop"},
            "status": {"parents": [{"parentRef": {"name": f"gw{i}", "namespace": "gateway-system"},
                                    "controllerName": "traefik.io/gateway-controller", "conditions": conds}
                                   for i, conds in enumerate(parents)]}}


ACCEPTED = [cond("Accepted", "True", "Accepted"), cond("ResolvedRefs", "True", "ResolvedRefs")]


@pytest.mark.parametrize(("obj", "wanted", "status", "reason", "says"), [
    (None, 1, "Unknown", "NoGatewayStatus", "no Gateway has accepted"),
    ({"metadata": {"name": "user", "namespace": "shop"}}, 1, "Unknown", "NoGatewayStatus", "0 of 1"),
    (route(ACCEPTED), 1, "True", "Accepted", "accepted by Gateway gateway-system/gw0"),
    (route(ACCEPTED), 2, "Unknown", "NoGatewayStatus", "1 of 2"),
    (route(ACCEPTED, ACCEPTED), 2, "True", "Accepted", "gw0, Gateway gateway-system/gw1"),
    (route([cond("Accepted", "False", "NotAllowedByListeners", "no listener allows namespace shop"),
            cond("ResolvedRefs", "True")]), 1, "False", "NotAllowedByListeners",
     "Gateway gateway-system/gw0: Accepted=False, NotAllowedByListeners: no listener allows namespace shop"),
    (route(ACCEPTED, [cond("Accepted", "True"), cond("ResolvedRefs", "False", "BackendNotFound", "no user-v3")]),
     2, "False", "BackendNotFound", "gw1: ResolvedRefs=False, BackendNotFound: no user-v3"),
    (route([cond("Accepted", "Unknown", "Pending")]), 1, "Unknown", "NoGatewayStatus", "0 of 1"),
])
def test_route_acceptance(obj: dict[str, Any] | None, wanted: int, status: str, reason: str, says: str) -> None:
    verdict = route_acceptance(obj, wanted)
    assert (verdict.status, verdict.reason) == (status, reason) and says in verdict.message, verdict


@pytest.mark.parametrize(("weights", "ready", "expected"), [
    ({"v1": 90, "v2": 10}, {"v1": 9, "v2": 1}, {"v1": 90, "v2": 10}),
    ({"v1": 90, "v2": 10}, {"v1": 0, "v2": 1}, {"v1": 0, "v2": 10}),    # v1's pods all unready: no 503s
    ({"v1": 90, "v2": 10}, {"v1": 9}, {"v1": 90, "v2": 0}),             # v2 not started yet
    ({"v1": 90, "v2": 10}, {"v1": 0, "v2": 0}, {"v1": 90, "v2": 10}),   # nothing serves: as decided
    ({"v1": 0, "v2": 100}, {"v1": 3, "v2": 0}, {"v1": 0, "v2": 100}),   # a weight of 0 is not raised
])
def test_a_track_without_a_ready_pod_gets_no_requests_from_the_gateway(
        weights: dict[str, int], ready: dict[str, int], expected: dict[str, int]) -> None:
    assert serving_weights(weights, ready) == expected
