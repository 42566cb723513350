from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from microservice_operator.api import MicroserviceSpec
from microservice_operator.failover import Decision, FailoverState, Health, decide, track_health

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def spec(tracks: list[tuple[str, int]], replicas: int = 10, **failover: Any) -> MicroserviceSpec:
    return MicroserviceSpec.model_validate({
        "replicas": replicas, "tracks": [{"name": n, "image": "img", "weight": w} for n, w in tracks],
        "failover": failover,
    })


AS = spec([("primary", 90), ("standby", 10)], policy="ActiveStandby", primary="primary", standby="standby")
RD = spec([("a", 50), ("b", 30), ("c", 20)], policy="Redistribute")


def health(**tracks: tuple[bool | None, float]) -> dict[str, Health]:
    return {name: Health(ok, at(since)) for name, (ok, since) in tracks.items()}


@pytest.mark.parametrize(("ready", "desired", "expected"), [
    (5, 10, True), (4, 10, False), (0, 0, None), (0, 1, False), (1, 1, True),
])
def test_track_health_at_50_percent(ready: int, desired: int, expected: bool | None) -> None:
    assert track_health(ready, desired, 50) is expected


def test_healthy_primary_keeps_the_configured_split() -> None:
    d = decide(AS, health(primary=(True, 0), standby=(True, 0)), FailoverState(), at(100))
    assert d.routing_weights == {"primary": 90, "standby": 10}
    assert d.replicas == {"primary": 9, "standby": 1}
    assert d.selector_track is None and not d.failover.active and d.degraded_reason is None


def test_unhealthy_primary_within_the_dwell_waits_for_the_deadline() -> None:
    d = decide(AS, health(primary=(False, 95), standby=(True, 0)), FailoverState(), at(100))
    assert not d.failover.active
    assert d.next_deadline == at(105)
    assert d.degraded_reason is None  # a short dip is progress, not degradation


def test_primary_unhealthy_for_exactly_the_dwell_fails_over() -> None:
    d = decide(AS, health(primary=(False, 90), standby=(True, 0)), FailoverState(), at(100))
    assert d.failover.active and d.failover.active_track == "standby" and d.failover.since == at(100)
    assert d.routing_weights == {"primary": 0, "standby": 100}
    assert d.replicas == {"primary": 9, "standby": 10}  # the primary keeps its replicas to recover
    assert d.selector_track == "standby"
    assert d.degraded_reason == "unhealthy tracks: primary"


def test_flapping_faster_than_the_dwell_never_fails_over() -> None:
    state, since, ok = FailoverState(), 0.0, True
    for step in range(0, 120, 4):  # health toggles every 4 s; the dwell is 10 s
        if step % 8 == 0 and step:
            ok, since = not ok, float(step)
        d = decide(AS, health(primary=(ok, since), standby=(True, 0)), state, at(step))
        state = d.failover
        assert not state.active, f"failed over at t={step}"


FAILED_OVER = FailoverState(active=True, active_track="standby", failed_tracks=("primary",), since=at(50),
                            reason="PrimaryUnhealthy")


def test_failback_waits_for_the_whole_failback_dwell() -> None:
    d = decide(AS, health(primary=(True, 100), standby=(True, 0)), FAILED_OVER, at(129.9))
    assert d.failover.active and d.next_deadline == at(130)
    assert d.failover == FAILED_OVER  # unchanged state: no status churn while waiting


def test_failback_after_exactly_the_dwell() -> None:
    d = decide(AS, health(primary=(True, 100), standby=(True, 0)), FAILED_OVER, at(130))
    assert not d.failover.active
    assert d.routing_weights == {"primary": 90, "standby": 10}
    assert d.replicas == {"primary": 9, "standby": 1} and d.selector_track is None


def test_still_unhealthy_primary_stays_failed_over() -> None:
    d = decide(AS, health(primary=(False, 40), standby=(True, 0)), FAILED_OVER, at(500))
    assert d.failover == FAILED_OVER and d.next_deadline is None


def test_standby_with_zero_replicas_takes_all_of_them() -> None:
    s = spec([("primary", 100), ("standby", 0)], replicas=4, policy="ActiveStandby", primary="primary",
             standby="standby")
    d = decide(s, health(primary=(False, 0), standby=(None, 0)), FailoverState(), at(10))
    assert d.failover.active and d.replicas == {"primary": 4, "standby": 4}
    assert d.routing_weights == {"primary": 0, "standby": 100}


def test_no_failover_to_an_unhealthy_standby() -> None:
    d = decide(AS, health(primary=(False, 0), standby=(False, 0)), FailoverState(), at(60))
    assert not d.failover.active
    assert d.degraded_reason == "unhealthy tracks: primary, standby"


def test_redistribute_moves_an_unhealthy_tracks_share_by_weight() -> None:
    d = decide(RD, health(a=(True, 0), b=(True, 0), c=(False, 0)), FailoverState(), at(10))
    assert d.routing_weights == {"a": 63, "b": 37, "c": 0}
    assert d.replicas == {"a": 6, "b": 4, "c": 2}  # c keeps its replicas to recover
    assert d.failover.active and d.failover.failed_tracks == ("c",)
    assert sum(d.replicas[n] for n in ("a", "b")) == 10


def test_redistribute_every_track_unhealthy_keeps_the_configured_weights() -> None:
    d = decide(RD, health(a=(False, 0), b=(False, 0), c=(False, 0)), FailoverState(), at(60))
    assert d.routing_weights == {"a": 50, "b": 30, "c": 20}
    assert d.replicas == {"a": 5, "b": 3, "c": 2}
    assert not d.failover.active and set(d.failover.failed_tracks) == {"a", "b", "c"}
    assert d.degraded_reason == "every track is unhealthy"


def test_redistribute_tracks_fail_back_each_on_their_own() -> None:
    before = FailoverState(active=True, failed_tracks=("a", "c"), since=at(0), reason="TracksUnhealthy")
    d = decide(RD, health(a=(True, 95), b=(True, 0), c=(True, 60)), before, at(100))
    assert d.failover.failed_tracks == ("a",)
    assert d.routing_weights == {"a": 0, "b": 60, "c": 40}
    assert d.next_deadline == at(125)


def test_redistribute_weight_zero_survivor_counts_as_all_unhealthy() -> None:
    s = spec([("a", 100), ("b", 0)], policy="Redistribute")
    d = decide(s, health(a=(False, 0), b=(None, 0)), FailoverState(), at(60))
    assert d.routing_weights == {"a": 100, "b": 0} and not d.failover.active


def test_policy_none_reports_lasting_unhealth_without_moving_traffic() -> None:
    s = spec([("a", 50), ("b", 50)])
    d: Decision = decide(s, health(a=(False, 0), b=(True, 0)), FailoverState(), at(10))
    assert d.degraded_reason == "unhealthy tracks: a" and d.routing_weights == {"a": 50, "b": 50}
    early = decide(s, health(a=(False, 5), b=(True, 0)), FailoverState(), at(10))
    assert early.degraded_reason is None and early.next_deadline == at(15)
