"""The interface every traffic backend implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from ..api import Microservice, Strategy


@dataclass(frozen=True)
class RouteAcceptance:
    """Whether the implementation that reads the routing objects took them: ``status`` is True, False or
    Unknown (nothing has said yet); ``reason`` and ``message`` in the implementation's own words."""

    status: str
    reason: str
    message: str


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

    def desired(self, ms: Microservice, weights: dict[str, int], ready: dict[str, int]) -> list[dict[str, Any]]:
        """The routing objects that carry ``weights`` (routing weight per track); ``ready``: ready pods
        per track, for a backend that would send requests to a track with none."""

    def acceptance(self, ms: Microservice, routes: dict[str, dict[str, Any]]) -> RouteAcceptance | None:
        """What the implementation said of the observed routing objects (by name); None when this
        backend has nothing to accept them (the Service is its own implementation)."""

    def effective_weights(self, weights: dict[str, int], ready: dict[str, int],
                          selected: str | None) -> dict[str, int]:
        """The share of traffic each track really gets, in percent; ``selected``: the track the
        shared Service is narrowed to, or None when it selects every track."""
