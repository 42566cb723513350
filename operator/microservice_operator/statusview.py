"""Reading the previous status back into decision inputs, and writing track status entries."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from .api import Microservice
from .failover import Decision, FailoverState, Health
from .podhealth import Problem
from .routing import Router


def timestamp(moment: datetime, precise: bool = False) -> str:
    """RFC 3339 in UTC; ``precise`` keeps milliseconds (health times drive sub-second dwells)."""
    moment = moment.astimezone(UTC)
    if precise:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str | None) -> datetime | None:
    """An RFC 3339 time as written by the operator or the API server, or None."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def previous_health(status: dict[str, Any]) -> dict[str, Health]:
    """Per-track health and when it last changed, as the last status recorded it."""
    result = {}
    for entry in status.get("tracks") or []:
        since = parse_time(entry.get("healthTransitionTime"))
        if entry.get("name") and since is not None:
            result[entry["name"]] = Health(entry.get("healthy"), since)
    return result


def previous_failover(status: dict[str, Any]) -> FailoverState:
    """The failover state the last status recorded."""
    fo = status.get("failover") or {}
    return FailoverState(
        active=bool(fo.get("active")), active_track=fo.get("activeTrack"),
        failed_tracks=tuple(fo.get("failedTracks") or ()), since=parse_time(fo.get("since")),
        reason=fo.get("reason"),
    )


def track_statuses(ms: Microservice, ready: dict[str, int], decision: Decision, health: dict[str, Health],
                   router: Router, *, selected: str | None,
                   problems: dict[str, Problem] | None = None) -> list[dict[str, Any]]:
    """status.tracks: desired and ready replicas, configured, routing and effective weights, health,
    and why pods do not serve (``problems``: Kubernetes' reason and message, by track).

    ``selected``: the track the shared Service is narrowed to (None: every track).
    """
    effective = router.effective_weights(decision.routing_weights, ready, selected)
    entries = []
    for track in ms.spec.tracks:
        entry: dict[str, Any] = {
            "name": track.name, "replicas": decision.replicas[track.name], "readyReplicas": ready[track.name],
            "weight": track.weight, "routingWeight": decision.routing_weights[track.name],
            "effectiveWeight": effective[track.name],
        }
        h = health[track.name]
        if h.healthy is not None:
            entry["healthy"] = h.healthy
        entry["healthTransitionTime"] = timestamp(h.since, precise=True)
        problem = (problems or {}).get(track.name)
        if problem is not None:
            entry["reason"], entry["message"] = problem.reason, problem.message
        entries.append(entry)
    return entries


def weights_string(tracks: list[dict[str, Any]]) -> str:
    """``stable=90,canary=10`` from the effective weights, for the printer column."""
    return ",".join(f"{t['name']}={t['effectiveWeight']}" for t in tracks)
