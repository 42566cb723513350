"""The routing decision: (spec, per-track health with the times it last changed, now) -> routing.

This module owns the weights: the routing weight of every track, the replicas of every track and
the shared Service's selector all come from :func:`decide`, and nothing else computes them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from .api import MicroserviceSpec, Policy, Strategy
from .apportion import apportion, apportion_serving

REASON_PRIMARY_UNHEALTHY = "PrimaryUnhealthy"
REASON_TRACKS_UNHEALTHY = "TracksUnhealthy"
REASON_ALL_UNHEALTHY = "AllTracksUnhealthy"
WAITING_FOR_STANDBY = "waiting until the standby serves"


@dataclass(frozen=True)
class Health:
    """A track's health now and when it last changed. ``healthy`` is None with no desired replicas."""

    healthy: bool | None
    since: datetime


@dataclass(frozen=True)
class FailoverState:
    """What failover is in effect; carried from one decision to the next through the status."""

    active: bool = False
    active_track: str | None = None
    failed_tracks: tuple[str, ...] = ()
    since: datetime | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Decision:
    """Everything the routing depends on, for every track in spec order."""

    routing_weights: dict[str, int]
    replicas: dict[str, int]
    selector_track: str | None
    failover: FailoverState
    degraded_reason: str | None = None
    next_deadline: datetime | None = None


def base_replicas(spec: MicroserviceSpec) -> dict[str, int]:
    """The configured apportionment of spec.replicas, before any failover."""
    counts = _replicas_for(spec)(spec.replicas, [t.weight for t in spec.tracks])
    return {t.name: n for t, n in zip(spec.tracks, counts, strict=True)}


def _replicas_for(spec: MicroserviceSpec) -> Callable[[int, Sequence[int]], list[int]]:
    """Replicas follow the weights; with a per-request split (GatewayAPI) a track with traffic keeps a pod."""
    return apportion_serving if spec.routing.strategy is Strategy.GATEWAY_API else apportion


def track_health(ready: int, desired: int, min_ready_percent: int) -> bool | None:
    """Healthy when ready >= min_ready_percent of desired; None when nothing is desired."""
    if desired == 0:
        return None
    return ready * 100 >= min_ready_percent * desired


def _dwell_over(health: Health, want: bool, seconds: int, now: datetime) -> tuple[bool, datetime | None]:
    """Whether ``health`` has been ``want`` for ``seconds``; else the deadline when it would be."""
    if health.healthy is not want:
        return False, None
    deadline = health.since + timedelta(seconds=seconds)
    return (True, None) if now >= deadline else (False, deadline)


def lasting_unhealthy(
    spec: MicroserviceSpec, health: dict[str, Health], now: datetime,
) -> tuple[list[str], datetime | None]:
    """Tracks unhealthy for at least unhealthyAfterSeconds (Degraded), and when the next one will be.

    A shorter dip, as while pods start, is progress rather than degradation.
    """
    names, deadlines = [], []
    for track in spec.tracks:
        h = health.get(track.name, Health(None, now))
        over, deadline = _dwell_over(h, False, spec.failover.unhealthy_after_seconds, now)
        if over:
            names.append(track.name)
        deadlines.append(deadline)
    return names, _earliest(*deadlines)


def _unhealthy_reason(names: list[str]) -> str | None:
    return f"unhealthy tracks: {', '.join(names)}" if names else None


def _earliest(*deadlines: datetime | None) -> datetime | None:
    pending = [d for d in deadlines if d is not None]
    return min(pending) if pending else None


def decide(
    spec: MicroserviceSpec, health: dict[str, Health], previous: FailoverState, now: datetime,
    ready: Mapping[str, int] | None = None,
) -> Decision:
    """Decides routing weights, replicas and selector for the failover policy in ``spec``.

    ``ready``: each track's ready pods now. An ActiveStandby failover moves the traffic only once
    the standby has enough of them (see ``_standby_serves``); without counts it is taken to have.
    """
    base = base_replicas(spec)
    configured = Decision(
        routing_weights={t.name: t.weight for t in spec.tracks},
        replicas=dict(base), selector_track=None, failover=FailoverState(),
    )
    policy = spec.failover.policy
    if policy is Policy.ACTIVE_STANDBY:
        return _active_standby(spec, health, previous, now, configured, ready=ready)
    if policy is Policy.REDISTRIBUTE:
        return _redistribute(spec, health, previous, now, configured)
    unhealthy, deadline = lasting_unhealthy(spec, health, now)
    return replace(configured, degraded_reason=_unhealthy_reason(unhealthy), next_deadline=deadline)


def _standby_serves(spec: MicroserviceSpec, ready: Mapping[str, int] | None) -> tuple[bool, str]:
    """Whether the standby's ready pods can take all the traffic: minReadyPercent of spec.replicas."""
    fo = spec.failover
    if ready is None or fo.standby is None:
        return True, ""
    have = ready.get(fo.standby, 0)
    serves = track_health(have, spec.replicas, fo.min_ready_percent) is not False and have > 0
    return serves, f"; {WAITING_FOR_STANDBY} ({have}/{spec.replicas} ready)" if not serves else ""


def _active_standby(
    spec: MicroserviceSpec, health: dict[str, Health], previous: FailoverState, now: datetime,
    configured: Decision, *, ready: Mapping[str, int] | None,
) -> Decision:
    fo = spec.failover
    assert fo.primary is not None and fo.standby is not None  # guaranteed by MicroserviceSpec
    primary = health.get(fo.primary, Health(None, now))
    standby_unhealthy = health.get(fo.standby, Health(None, now)).healthy is False
    if previous.active:
        back, deadline = _dwell_over(primary, True, fo.failback_after_seconds, now)
        stay = not back and primary.healthy is not None
    else:
        failed, deadline = _dwell_over(primary, False, fo.unhealthy_after_seconds, now)
        stay = failed and not standby_unhealthy
    unhealthy, degraded_deadline = lasting_unhealthy(spec, health, now)
    degraded = _unhealthy_reason(unhealthy)
    deadline = _earliest(deadline, degraded_deadline)
    if not stay:
        return replace(configured, degraded_reason=degraded, next_deadline=deadline)
    replicas = dict(configured.replicas) | {fo.standby: spec.replicas}
    serves, waiting = _standby_serves(spec, ready)
    why = f"{REASON_PRIMARY_UNHEALTHY}: track {fo.primary} stayed below " \
        f"{fo.min_ready_percent}% ready for {fo.unhealthy_after_seconds}s"
    if previous.active and previous.reason:  # as first written: no status churn while it lasts
        why = previous.reason.split(f"; {WAITING_FOR_STANDBY}")[0]
    state = FailoverState(active=True, active_track=fo.standby, failed_tracks=(fo.primary,),
                          since=previous.since if previous.active and previous.since else now,
                          reason=why + waiting)
    if not serves:  # make before break: the primary's ready pods keep serving meanwhile
        return Decision(configured.routing_weights, replicas, None, state, degraded, deadline)
    weights = {name: 0 for name in configured.routing_weights} | {fo.standby: 100}
    return Decision(weights, replicas, fo.standby, state, degraded, deadline)


def _failed_tracks(
    spec: MicroserviceSpec, health: dict[str, Health], previous: FailoverState, now: datetime,
) -> tuple[list[str], datetime | None]:
    """Which tracks are failed now (each on its own dwell), and the next dwell deadline."""
    fo = spec.failover
    failed: list[str] = []
    deadlines: list[datetime | None] = []
    for track in spec.tracks:
        h = health.get(track.name, Health(None, now))
        if track.name in previous.failed_tracks:
            back, deadline = _dwell_over(h, True, fo.failback_after_seconds, now)
            if not back and h.healthy is not None:
                failed.append(track.name)
        else:
            down, deadline = _dwell_over(h, False, fo.unhealthy_after_seconds, now)
            if down:
                failed.append(track.name)
        deadlines.append(deadline)
    return failed, _earliest(*deadlines)


def _redistribute(
    spec: MicroserviceSpec, health: dict[str, Health], previous: FailoverState, now: datetime,
    configured: Decision,
) -> Decision:
    failed, deadline = _failed_tracks(spec, health, previous, now)
    unhealthy, degraded_deadline = lasting_unhealthy(spec, health, now)
    degraded = _unhealthy_reason(unhealthy)
    deadline = _earliest(deadline, degraded_deadline)
    serving = [t.weight if t.name not in failed else 0 for t in spec.tracks]
    if not failed:
        return replace(configured, degraded_reason=degraded, next_deadline=deadline)
    if sum(serving) == 0:
        state = FailoverState(
            active=False, failed_tracks=tuple(failed), since=previous.since or now,
            reason=f"{REASON_ALL_UNHEALTHY}: no healthy track to move traffic to; keeping the configured weights",
        )
        return replace(configured, failover=state, next_deadline=deadline,
                       degraded_reason="every track is unhealthy")
    names = [t.name for t in spec.tracks]
    weights = dict(zip(names, apportion(100, serving), strict=True))
    moved = dict(zip(names, _replicas_for(spec)(spec.replicas, serving), strict=True))
    replicas = {n: configured.replicas[n] if n in failed else moved[n] for n in names}
    same = previous.active and set(previous.failed_tracks) == set(failed)
    state = previous if same else FailoverState(
        active=True, failed_tracks=tuple(failed), since=previous.since if previous.active else now,
        reason=f"{REASON_TRACKS_UNHEALTHY}: traffic moved away from {', '.join(failed)}",
    )
    return Decision(weights, replicas, None, state, degraded, deadline)
