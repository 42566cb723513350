"""Gateway API backend: an HTTPRoute whose backendRef weights are the routing weights."""

from __future__ import annotations

from typing import Any

from ..api import Microservice, Strategy
from ..resources.httproute import HTTPROUTE_API_VERSION, build_httproute
from .base import RouteKind


class GatewayAPIRouter:
    strategy = Strategy.GATEWAY_API

    def owned_kinds(self) -> list[RouteKind]:
        return [RouteKind(HTTPROUTE_API_VERSION, "HTTPRoute")]

    def desired(self, ms: Microservice, weights: dict[str, int]) -> list[dict[str, Any]]:
        return [build_httproute(ms, weights)]

    def effective_weights(self, weights: dict[str, int], ready: dict[str, int],
                          selected: str | None) -> dict[str, int]:
        """The Gateway splits by backendRef weight; a backend with no ready pod gets nothing."""
        serving = {n: (w if ready.get(n, 0) > 0 else 0) for n, w in weights.items()}
        total = sum(serving.values())
        return {n: round(100 * w / total) if total else 0 for n, w in serving.items()}
