"""Traffic backends, one module each, behind the :class:`Router` interface (routing/base.py).

The weights are decided in :mod:`microservice_operator.failover`; a router only renders them into
objects and says how much traffic each track really gets.
"""

from __future__ import annotations

from ..api import Strategy
from .base import RouteAcceptance, RouteKind, Router
from .gateway_api import GatewayAPIRouter
from .replicas import ReplicasRouter

__all__ = ["RouteAcceptance", "RouteKind", "Router", "all_routers", "router_for"]

_ROUTERS: dict[Strategy, Router] = {Strategy.REPLICAS: ReplicasRouter(), Strategy.GATEWAY_API: GatewayAPIRouter()}


def router_for(strategy: Strategy) -> Router:
    """The backend for ``spec.routing.strategy``."""
    return _ROUTERS[strategy]


def all_routers() -> list[Router]:
    return list(_ROUTERS.values())
