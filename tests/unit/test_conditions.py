from __future__ import annotations

import pytest
from microservice_operator import conditions as c
from microservice_operator.api import Phase


def facts(**kw: object) -> c.Facts:
    base: dict[str, object] = {"desired": 3, "ready": 3, "converged": True, "degraded_reason": None,
                               "failover_active": False, "failover_reason": None}
    return c.Facts(**{**base, **kw})  # type: ignore[arg-type]


def test_last_transition_time_is_kept_when_status_does_not_change() -> None:
    first = c.merge([], c.desired_conditions(facts()), 1, "2026-01-01T00:00:00Z")
    again = c.merge(first, c.desired_conditions(facts()), 2, "2026-01-01T00:05:00Z")
    assert [x["lastTransitionTime"] for x in again] == ["2026-01-01T00:00:00Z"] * 4
    assert all(x["observedGeneration"] == 2 for x in again)


def test_last_transition_time_moves_when_status_flips() -> None:
    first = c.merge([], c.desired_conditions(facts()), 1, "2026-01-01T00:00:00Z")
    later = c.merge(first, c.desired_conditions(facts(ready=1)), 1, "2026-01-01T00:05:00Z")
    times = {x["type"]: x["lastTransitionTime"] for x in later}
    assert times[c.READY] == "2026-01-01T00:05:00Z" and times[c.DEGRADED] == "2026-01-01T00:00:00Z"


@pytest.mark.parametrize(("obs", "phase"), [
    (facts(), Phase.READY),
    (facts(ready=1), Phase.PROGRESSING),
    (facts(converged=False), Phase.PROGRESSING),
    (facts(ready=1, degraded_reason="unhealthy tracks: a"), Phase.DEGRADED),
    (facts(failover_active=True, failover_reason="x", degraded_reason="y"), Phase.FAILED_OVER),
    (facts(blocked_reason=c.REASON_GATEWAY_API_UNAVAILABLE, blocked_message="no CRDs"), Phase.DEGRADED),
    (facts(blocked_reason=c.REASON_ROUTE_NOT_ACCEPTED, blocked_message="refused",
           route=("False", "NotAllowedByListeners", "refused")), Phase.DEGRADED),
    (facts(route=("Unknown", "NoGatewayStatus", "no Gateway yet")), Phase.READY),
])
def test_phase_summarizes_the_conditions(obs: c.Facts, phase: Phase) -> None:
    assert c.phase(c.merge([], c.desired_conditions(obs), 1, "t")) is phase


def test_invalid_spec_is_ready_false_with_reason() -> None:
    conds = c.merge([], c.invalid_conditions("spec.tracks: bad"), 3, "t")
    assert conds == [{"type": "Ready", "status": "False", "reason": "InvalidSpec", "message": "spec.tracks: bad",
                      "lastTransitionTime": "t", "observedGeneration": 3}]
    assert c.phase(conds) is Phase.INVALID


def test_gateway_unavailable_is_the_ready_reason() -> None:
    conds = c.desired_conditions(facts(blocked_reason=c.REASON_GATEWAY_API_UNAVAILABLE, blocked_message="m"))
    assert conds[0] == {"type": "Ready", "status": "False", "reason": "GatewayAPIUnavailable", "message": "m"}


def test_route_accepted_is_a_fifth_condition_only_when_there_is_a_route() -> None:
    assert [x["type"] for x in c.desired_conditions(facts())] == ["Ready", "Progressing", "Degraded", "FailedOver"]
    conds = c.desired_conditions(facts(route=("True", "Accepted", "accepted by Gateway g/local")))
    assert conds[-1] == {"type": "RouteAccepted", "status": "True", "reason": "Accepted",
                         "message": "accepted by Gateway g/local"}
