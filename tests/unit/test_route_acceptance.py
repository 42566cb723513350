"""What a Gateway said of the HTTPRoute (status.parents), read as RouteAccepted True, False or Unknown."""

from __future__ import annotations

from typing import Any

import pytest
from microservice_operator.routing.gateway_api import route_acceptance


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
