"""Gateway API backend: an HTTPRoute whose backendRef weights are the routing weights.

The Gateway implementation says in the route's ``status.parents`` whether it took the route: per
parent Gateway, ``Accepted`` (the listener allows it) and ``ResolvedRefs`` (every backend exists).
"""

from __future__ import annotations

from typing import Any

from ..api import Microservice, Strategy
from ..resources.common import child_name
from ..resources.httproute import HTTPROUTE_API_VERSION, build_httproute
from .base import RouteAcceptance, RouteKind

ROUTE_CHECKS = ("Accepted", "ResolvedRefs")


class GatewayAPIRouter:
    strategy = Strategy.GATEWAY_API

    def owned_kinds(self) -> list[RouteKind]:
        return [RouteKind(HTTPROUTE_API_VERSION, "HTTPRoute")]

    def desired(self, ms: Microservice, weights: dict[str, int], ready: dict[str, int]) -> list[dict[str, Any]]:
        return [build_httproute(ms, serving_weights(weights, ready))]

    def acceptance(self, ms: Microservice, routes: dict[str, dict[str, Any]]) -> RouteAcceptance | None:
        route = routes.get(child_name(ms))
        gateway = ms.spec.routing.gateway
        return route_acceptance(route, len(gateway.parent_refs) if gateway else 1)

    def effective_weights(self, weights: dict[str, int], ready: dict[str, int],
                          selected: str | None) -> dict[str, int]:
        """The Gateway splits by backendRef weight; a backend with no ready pod gets nothing."""
        serving = {n: (w if ready.get(n, 0) > 0 else 0) for n, w in weights.items()}
        total = sum(serving.values())
        return {n: round(100 * w / total) if total else 0 for n, w in serving.items()}


def serving_weights(weights: dict[str, int], ready: dict[str, int]) -> dict[str, int]:
    """The backendRef weights: a track with no ready pod gets 0 at once, without waiting for a failover.

    A Gateway splits by weight whatever the endpoints: it answers the share of a backend whose pods
    are all unready (or not started yet) with errors, where kube-proxy would skip them. When no track
    has a ready pod the weights stay as decided: there is nothing better to send the requests to.
    """
    serving = {name: (w if ready.get(name, 0) > 0 else 0) for name, w in weights.items()}
    return serving if any(serving.values()) else weights


def route_acceptance(route: dict[str, Any] | None, parents_wanted: int) -> RouteAcceptance:
    """False as soon as one parent refuses the route or cannot resolve a backend; True once every
    parent took it; Unknown before then (no Gateway controller has written the route's status)."""
    name = ((route or {}).get("metadata") or {}).get("name", "")
    taken, refusals = [], []
    for parent in ((route or {}).get("status") or {}).get("parents") or []:
        ref = parent.get("parentRef") or {}
        where = f"Gateway {ref.get('namespace') or (route or {})['metadata'].get('namespace')}/{ref.get('name')}"
        conds = {c.get("type"): c for c in parent.get("conditions") or []}
        refused = [conds[t] for t in ROUTE_CHECKS if (conds.get(t) or {}).get("status") == "False"]
        refusals += [(c.get("reason") or "Refused", f"HTTPRoute {name}: {where}: {c['type']}=False, "
                      f"{c.get('reason')}: {c.get('message', '')}") for c in refused]
        if all((conds.get(t) or {}).get("status") == "True" for t in ROUTE_CHECKS):
            taken.append(where)
    if refusals:
        return RouteAcceptance("False", refusals[0][0], "; ".join(message for _, message in refusals))
    if taken and len(taken) >= parents_wanted:
        return RouteAcceptance("True", "Accepted", f"HTTPRoute {name} accepted by {', '.join(taken)}")
    return RouteAcceptance("Unknown", "NoGatewayStatus",
                           f"no Gateway has accepted HTTPRoute {name} yet ({len(taken)} of {parents_wanted})")
