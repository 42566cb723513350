"""Prometheus metrics of the operator, updated after every reconcile."""

from __future__ import annotations

import contextlib
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

TRACK_LABELS = ("namespace", "microservice", "track")
OBJECT_LABELS = ("namespace", "microservice")

track_weight = Gauge("microservice_track_weight", "Effective weight of the track, in percent", TRACK_LABELS)
track_ready = Gauge("microservice_track_ready_replicas", "Ready replicas of the track", TRACK_LABELS)
failover_active = Gauge("microservice_failover_active", "1 while the Microservice is failed over", OBJECT_LABELS)
failovers_total = Counter("microservice_failovers_total", "Failovers so far", OBJECT_LABELS)
reconcile_seconds = Histogram("microservice_reconcile_duration_seconds", "Time of one reconcile")

_tracks_seen: dict[tuple[str, str], set[str]] = {}


def observe(key: tuple[str, str], plan: Any, seconds: float) -> None:
    """Records one reconcile of ``key``; ``plan`` is None when it failed or the object is gone."""
    reconcile_seconds.observe(seconds)
    if plan is None:
        return
    namespace, name = key
    tracks = {t["name"]: t for t in plan.status.get("tracks") or []}
    for gone in _tracks_seen.get(key, set()) - set(tracks):
        track_weight.remove(namespace, name, gone)
        track_ready.remove(namespace, name, gone)
    _tracks_seen[key] = set(tracks)
    for track, entry in tracks.items():
        track_weight.labels(namespace, name, track).set(entry["effectiveWeight"])
        track_ready.labels(namespace, name, track).set(entry["readyReplicas"])
    failover_active.labels(namespace, name).set(1 if (plan.status.get("failover") or {}).get("active") else 0)
    if any(e.reason == "FailedOver" for e in plan.events):
        failovers_total.labels(namespace, name).inc()


def forget(key: tuple[str, str]) -> None:
    """Drops the series of a deleted Microservice."""
    namespace, name = key
    for track in _tracks_seen.pop(key, set()):
        track_weight.remove(namespace, name, track)
        track_ready.remove(namespace, name, track)
    for metric in (failover_active, failovers_total):
        with contextlib.suppress(KeyError):
            metric.remove(namespace, name)
