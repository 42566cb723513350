"""Replicas backend: kube-proxy picks a ready endpoint at random, so weight = share of ready pods."""

from __future__ import annotations

from typing import Any

from ..api import Microservice, Strategy
from ..apportion import effective_weights
from .base import RouteAcceptance, RouteKind


class ReplicasRouter:
    strategy = Strategy.REPLICAS

    def owned_kinds(self) -> list[RouteKind]:
        return []

    def desired(self, ms: Microservice, weights: dict[str, int], ready: dict[str, int]) -> list[dict[str, Any]]:
        return []

    def acceptance(self, ms: Microservice, routes: dict[str, dict[str, Any]]) -> RouteAcceptance | None:
        return None

    def effective_weights(self, weights: dict[str, int], ready: dict[str, int],
                          selected: str | None) -> dict[str, int]:
        """The shared Service spreads requests over the ready pods of the tracks it selects, whatever
        their routing weight: a failed Redistribute track's last ready pods still get their share."""
        serving = {n: (r if selected is None or n == selected else 0) for n, r in ready.items()}
        return dict(zip(serving, effective_weights(list(serving.values())), strict=True))
