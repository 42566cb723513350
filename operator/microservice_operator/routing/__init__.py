"""Traffic backends, one module each, behind the :class:`Router` interface.

The weights are decided in :mod:`microservice_operator.failover`; a router only renders them into
objects and says how much traffic each track really gets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from ..api import Microservice, Strategy


@dataclass(frozen=True)
class RouteKind:
    """An object kind a router owns (so the reconciler can delete it when the router is not in use)."""

    api_version: str
    kind: str


class Router(Protocol):
    """What a traffic backend provides."""

    strategy: Strategy

    def owned_kinds(self) -> list[RouteKind]:
        """Kinds of the objects this router creates, beyond Deployments and Services."""

    def desired(self, ms: Microservice, weights: dict[str, int]) -> list[dict[str, Any]]:
        """The routing objects that carry ``weights`` (routing weight per track)."""

    def effective_weights(self, weights: dict[str, int], ready: dict[str, int]) -> dict[str, int]:
        """The share of traffic each track really gets, in percent."""

    def explain(self) -> str:
        """One line for docs and ``render``: how this backend splits traffic."""


def router_for(strategy: Strategy) -> Router:
    """The backend for ``spec.routing.strategy``."""
    from .gateway_api import GatewayAPIRouter
    from .replicas import ReplicasRouter

    return GatewayAPIRouter() if strategy is Strategy.GATEWAY_API else ReplicasRouter()


def all_routers() -> list[Router]:
    return [router_for(s) for s in Strategy]
