"""Status conditions (metav1.Condition shape) and the phase that summarizes them.

lastTransitionTime only moves when a condition's status flips, as the Kubernetes API conventions
require, so an idle resync computes a status equal to the stored one and writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .api import Phase

READY = "Ready"
PROGRESSING = "Progressing"
DEGRADED = "Degraded"
FAILED_OVER = "FailedOver"
ROUTE_ACCEPTED = "RouteAccepted"  # GatewayAPI strategy only: what the Gateway said of the HTTPRoute
CONDITION_TYPES = (READY, PROGRESSING, DEGRADED, FAILED_OVER, ROUTE_ACCEPTED)

# Reasons (CamelCase, stable: users and alerts match on them).
REASON_ALL_READY = "AllReplicasReady"
REASON_REPLICAS_NOT_READY = "ReplicasNotReady"
REASON_SCALING = "ScalingReplicas"
REASON_CONVERGED = "Converged"
REASON_TRACK_UNHEALTHY = "TrackUnhealthy"
REASON_HEALTHY = "TracksHealthy"
REASON_FAILED_OVER = "FailedOver"
REASON_NOT_FAILED_OVER = "NotFailedOver"
REASON_INVALID_SPEC = "InvalidSpec"
REASON_GATEWAY_API_UNAVAILABLE = "GatewayAPIUnavailable"
REASON_ROUTE_NOT_ACCEPTED = "RouteNotAccepted"
REASON_APPLY_REJECTED = "ApplyRejected"  # the API server refused a child (400/422) although the spec is valid
REASON_NAME_CONFLICT = "NameConflict"  # a child's name is taken by an object this Microservice does not own
# Reasons that keep Ready False while the tracks may be fine: the phase is Degraded.
BLOCKING_REASONS = (REASON_GATEWAY_API_UNAVAILABLE, REASON_ROUTE_NOT_ACCEPTED, REASON_APPLY_REJECTED,
                    REASON_NAME_CONFLICT)
# Of those, the ones a Warning event announces (once per new message).
WARNED_REASONS = (REASON_APPLY_REJECTED, REASON_NAME_CONFLICT)


@dataclass(frozen=True)
class Facts:
    """The facts conditions are derived from."""

    desired: int
    ready: int
    converged: bool
    degraded_reason: str | None
    failover_active: bool
    failover_reason: str | None
    blocked_reason: str | None = None  # a reason constant that keeps Ready False, e.g. GatewayAPIUnavailable
    blocked_message: str = ""
    # Degraded's reason when it is not a lasting unhealthy track: Kubernetes' own (ProgressDeadlineExceeded).
    degraded_cause: str = REASON_TRACK_UNHEALTHY
    # GatewayAPI strategy: RouteAccepted's status (True, False, Unknown), reason and message.
    route: tuple[str, str, str] | None = None
    # Why replicas are missing in Kubernetes' words, when a Deployment says it (FailedCreate: pods refused
    # by Pod Security, a ResourceQuota or a LimitRange; ProgressDeadlineExceeded): Ready's reason and message.
    not_ready_cause: tuple[str, str] | None = None


def _condition(ctype: str, status: bool, reason: str, message: str) -> dict[str, Any]:
    return {"type": ctype, "status": "True" if status else "False", "reason": reason, "message": message}


def desired_conditions(obs: Facts) -> list[dict[str, Any]]:
    """The four conditions (five with RouteAccepted), without times or generation."""
    ready_msg = f"{obs.ready}/{obs.desired} replicas ready"
    if obs.blocked_reason:
        ready = _condition(READY, False, obs.blocked_reason, obs.blocked_message)
    elif obs.converged and obs.ready >= obs.desired:
        ready = _condition(READY, True, REASON_ALL_READY, ready_msg)
    elif obs.not_ready_cause:
        ready = _condition(READY, False, obs.not_ready_cause[0], f"{ready_msg}; {obs.not_ready_cause[1]}")
    else:
        ready = _condition(READY, False, REASON_REPLICAS_NOT_READY, ready_msg)
    progressing = (
        _condition(PROGRESSING, False, REASON_CONVERGED, ready_msg) if obs.converged and obs.ready >= obs.desired
        else _condition(PROGRESSING, True, REASON_SCALING, ready_msg)
    )
    degraded = (
        _condition(DEGRADED, True, obs.degraded_cause, obs.degraded_reason) if obs.degraded_reason
        else _condition(DEGRADED, False, REASON_HEALTHY, "every track has enough ready replicas")
    )
    failed_over = (
        _condition(FAILED_OVER, True, REASON_FAILED_OVER, obs.failover_reason or "") if obs.failover_active
        else _condition(FAILED_OVER, False, REASON_NOT_FAILED_OVER, "traffic follows the configured weights")
    )
    route = [] if obs.route is None else [
        {"type": ROUTE_ACCEPTED, "status": obs.route[0], "reason": obs.route[1], "message": obs.route[2]}]
    return [ready, progressing, degraded, failed_over, *route]


def invalid_conditions(message: str) -> list[dict[str, Any]]:
    """Conditions of an object that cannot be reconciled: Ready=False, reason InvalidSpec."""
    return [_condition(READY, False, REASON_INVALID_SPEC, message)]


def merge(
    previous: list[dict[str, Any]], wanted: list[dict[str, Any]], generation: int, now: str,
) -> list[dict[str, Any]]:
    """Stamps ``wanted`` with observedGeneration, keeping lastTransitionTime unless status flips."""
    before = {c.get("type"): c for c in previous or []}
    merged = []
    for cond in wanted:
        old = before.get(cond["type"])
        keep = old is not None and old.get("status") == cond["status"] and old.get("lastTransitionTime")
        merged.append({
            **cond,
            "lastTransitionTime": old["lastTransitionTime"] if keep and old else now,
            "observedGeneration": generation,
        })
    return merged


def phase(conditions: list[dict[str, Any]]) -> Phase:
    """One word for the conditions: Invalid > FailedOver > Degraded > Progressing > Ready."""
    by_type = {c["type"]: c for c in conditions}
    ready = by_type.get(READY, {})
    if ready.get("reason") == REASON_INVALID_SPEC:
        return Phase.INVALID
    if by_type.get(FAILED_OVER, {}).get("status") == "True":
        return Phase.FAILED_OVER
    if by_type.get(DEGRADED, {}).get("status") == "True" or ready.get("reason") in BLOCKING_REASONS:
        return Phase.DEGRADED
    if ready.get("status") == "True":
        return Phase.READY
    return Phase.PROGRESSING
