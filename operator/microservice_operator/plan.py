"""The whole desired state of one Microservice, computed from what is observed. Pure: no I/O.

``plan(body, observed, now)`` is the level-based core: given the Microservice object and the
children that exist, it returns the objects to apply and delete, the status to write, and the
events to post. The controller carries the plan out; running it twice on the same input gives the
same plan, and a converged object gives an empty one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from . import conditions
from .api import Microservice, Strategy
from .failover import Decision, FailoverState, Health, base_replicas, decide, track_health
from .podhealth import STALLED_REASONS, PodCounts, track_pods
from .resources.common import LABEL_TRACK, MAX_NAME, child_name, selector_string
from .resources.deployment import CONTAINER, build_deployment
from .resources.service import build_service, build_track_service
from .routing import RouteAcceptance, all_routers, router_for
from .shift import TrackPods, step, surge_pods
from .statusview import previous_failover, previous_health, timestamp, track_statuses, weights_string

POD_RECHECK_SECONDS = 2.0
DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


@dataclass
class Observed:
    """The children that exist now, as the API server last reported them."""

    deployments: dict[str, dict[str, Any]] = field(default_factory=dict)  # by track label
    services: dict[str, dict[str, Any]] = field(default_factory=dict)  # by name
    routes: dict[str, dict[str, Any]] = field(default_factory=dict)  # by name
    route_api_available: bool = True
    # The pods of the tracks that were short of ready pods (see tracks_to_read), by track label.
    pods: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # Children the API server refused to apply (400/422), "Kind name" -> its message.
    rejected: dict[str, str] = field(default_factory=dict)
    # Children's names taken by objects this Microservice does not own, "Kind name" -> who owns it.
    conflicts: dict[str, str] = field(default_factory=dict)


@dataclass
class Event:
    type: str  # Normal or Warning
    reason: str
    message: str


@dataclass
class Plan:
    apply: list[dict[str, Any]] = field(default_factory=list)
    delete: list[dict[str, Any]] = field(default_factory=list)  # objects as observed
    scale: list[tuple[dict[str, Any], int]] = field(default_factory=list)  # a removed track's Deployment, replicas
    status: dict[str, Any] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    next_deadline: datetime | None = None
    invalid: bool = False
    creates: set[str] = field(default_factory=set)  # "Kind name" of the applies that have no live twin


def validation_message(error: ValidationError) -> str:
    """pydantic errors as ``field.path: message`` lines, the way kubectl users read them."""
    lines = []
    for err in error.errors():
        msg = re.sub(r" or instance of \w+$", "", str(err["msg"]).removeprefix("Value error, "))  # no class names
        path = ""
        for part in err["loc"]:
            path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
        lines.append(msg if msg.startswith(("spec.", "metadata.")) else f"{path}: {msg}")
    return "; ".join(lines)


def name_problem(ms: Microservice) -> str | None:
    """Names the API server would reject for the children, caught before anything is written."""
    if not DNS_1035.match(ms.name):
        return f"metadata.name: {ms.name!r} must be a DNS-1035 label to name Services"
    for track in ms.spec.tracks:
        name = child_name(ms, track.name)
        if len(name) > MAX_NAME:
            return (f"metadata.name: child name {name!r} is {len(name)} characters; "
                    f"<name>-<track> must be at most {MAX_NAME}")
    return None


def plan(body: dict[str, Any], observed: Observed, now: datetime) -> Plan:
    """Computes the desired state of the Microservice ``body``."""
    status = body.get("status") or {}
    generation = int((body.get("metadata") or {}).get("generation") or 0)
    try:
        ms = Microservice.from_body(body)
    except ValidationError as err:
        return _invalid(status, generation, validation_message(err), now)
    problem = name_problem(ms)
    if problem:
        return _invalid(status, generation, problem, now)
    return _plan_valid(ms, status, observed, now)


def _invalid(status: dict[str, Any], generation: int, message: str, now: datetime) -> Plan:
    """Phase Invalid and Ready=False/InvalidSpec; no child is touched, so nothing is lost."""
    conds = conditions.merge(status.get("conditions") or [], conditions.invalid_conditions(message),
                             generation, timestamp(now))
    new_status = {**status, "observedGeneration": generation, "conditions": conds,
                  "phase": conditions.phase(conds).value}
    events = [] if status.get("phase") == "Invalid" and status.get("conditions") == conds else [
        Event("Warning", conditions.REASON_INVALID_SPEC, message)]
    return Plan(status=new_status, events=events, invalid=True)


def _ready(deployment: dict[str, Any] | None) -> int:
    return int(((deployment or {}).get("status") or {}).get("readyReplicas") or 0)


def tracks_to_read(observed: Observed) -> list[str]:
    """Tracks whose pods the planner needs: those with fewer ready pods than their Deployment wants."""
    return [track for track, d in observed.deployments.items()
            if _ready(d) < int((d.get("spec") or {}).get("replicas") or 0)]


def _pod_counts(ms: Microservice, base: dict[str, int], observed: Observed, now: datetime) -> dict[str, PodCounts]:
    return {t.name: track_pods(observed.deployments.get(t.name), observed.pods.get(t.name), base[t.name],
                               CONTAINER, now) for t in ms.spec.tracks}


def _health(ms: Microservice, base: dict[str, int], counts: dict[str, PodCounts], status: dict[str, Any],
            now: datetime) -> dict[str, Health]:
    """Each track's health now, keeping the time it last changed from the previous status.

    Pods still starting within their startup budget count as serving (see podhealth.py).
    """
    before = previous_health(status)
    result = {}
    for track in ms.spec.tracks:
        pods = counts[track.name]
        healthy = track_health(pods.ready + pods.starting, base[track.name], ms.spec.failover.min_ready_percent)
        old = before.get(track.name)
        result[track.name] = old if old is not None and old.healthy is healthy else Health(healthy, now)
    return result


def _plan_valid(ms: Microservice, status: dict[str, Any], observed: Observed, now: datetime) -> Plan:
    ready = {t.name: _ready(observed.deployments.get(t.name)) for t in ms.spec.tracks}
    base = base_replicas(ms.spec)
    counts = _pod_counts(ms, base, observed, now)
    health = _health(ms, base, counts, status, now)
    target = decide(ms.spec, health, previous_failover(status), now, ready)
    leaving = _leaving(ms, observed)
    stepped = _stepped(ms, target, observed, leaving)
    decision = replace(target, replicas={name: stepped[name] for name in target.replicas})
    router = router_for(ms.spec.routing.strategy)
    desired = _children(ms, decision) + router.desired(ms, decision.routing_weights, ready)
    result = Plan(next_deadline=_earliest(decision.next_deadline, _pod_recheck(observed, counts, now)))
    desired = [obj for obj in desired if ident(obj) not in observed.conflicts]  # never taken over
    result.apply = [obj for obj in desired if needs_apply(obj, _observed_twin(obj, observed))]
    result.creates = {ident(obj) for obj in result.apply if _observed_twin(obj, observed) is None}
    result.scale = [(d, stepped[track]) for track, d in leaving.items() if stepped[track] != _wanted(d)]
    result.delete = _stale(ms, desired, observed, leaving)
    if ms.spec.routing.strategy is Strategy.GATEWAY_API and not observed.route_api_available:
        result.apply = [o for o in result.apply if o["kind"] != "HTTPRoute"]
    route = router.acceptance(ms, observed.routes) if observed.route_api_available else None
    # What the live Service selects is what serves; before it exists, what it will select.
    selected = _selected(ms, observed) if child_name(ms) in observed.services else decision.selector_track
    tracks = track_statuses(ms, ready, decision, health, router, selected=selected,
                            problems={name: c.problem for name, c in counts.items() if c.problem})
    converged = (not result.apply and not result.delete and not leaving
                 and decision.replicas == target.replicas)
    result.status = _status(ms, status, tracks, observed, decision, converged=converged,
                            blocked=_blocked(ms, observed, route), route=route, now=now)
    result.events = _events(ms, status, result, observed, decision) + _rejection_event(status, result.status)
    return result


def _rejection_event(before: dict[str, Any], after: dict[str, Any]) -> list[Event]:
    """One Warning per new refusal or conflict (not again while Ready keeps the same reason and message),
    and one when Ready takes a Deployment's reason (pods refused: FailedCreate; a stalled rollout)."""
    def ready(st: dict[str, Any]) -> dict[str, Any]:
        return next((c for c in st.get("conditions") or [] if c.get("type") == conditions.READY), {})
    now, then = ready(after), ready(before)
    reason = now.get("reason")
    if reason not in STALLED_REASONS and reason not in conditions.WARNED_REASONS:
        return []
    # A stalled Deployment's message counts ready replicas as they change: warn once per reason.
    same = then.get("reason") == reason and (reason in STALLED_REASONS or then.get("message") == now.get("message"))
    return [] if same else [Event("Warning", str(reason), str(now.get("message", "")))]


def _earliest(*moments: datetime | None) -> datetime | None:
    pending = [m for m in moments if m is not None]
    return min(pending) if pending else None


def _pod_recheck(observed: Observed, counts: dict[str, PodCounts], now: datetime) -> datetime | None:
    """When to read starting pods again: a pod that crashes while it starts changes no Deployment."""
    if any(track in observed.pods and c.starting for track, c in counts.items()):
        return now + timedelta(seconds=POD_RECHECK_SECONDS)
    return None


def _wanted(deployment: dict[str, Any]) -> int:
    return int((deployment.get("spec") or {}).get("replicas") or 0)


def _leaving(ms: Microservice, observed: Observed) -> dict[str, dict[str, Any]]:
    """Deployments of tracks removed from the spec: drained (make before break) before they are deleted."""
    names = {t.name for t in ms.spec.tracks}
    return {track: d for track, d in observed.deployments.items() if track not in names}


def _drained(deployment: dict[str, Any]) -> bool:
    """Scaled to zero, and the Deployment controller saw it and has no pod left (terminating ones count)."""
    st = deployment.get("status") or {}
    return (_wanted(deployment) == 0 and int(st.get("replicas") or 0) == 0
            and int(st.get("observedGeneration") or 0) >= int(deployment["metadata"].get("generation") or 0))


def _selected(ms: Microservice, observed: Observed) -> str | None:
    """The track the live shared Service is narrowed to, if it is."""
    live = observed.services.get(child_name(ms)) or {}
    return ((live.get("spec") or {}).get("selector") or {}).get(LABEL_TRACK)


def _stepped(ms: Microservice, target: Decision, observed: Observed,
             leaving: dict[str, dict[str, Any]]) -> dict[str, int]:
    """This reconcile's step towards the decided replicas (make before break, see shift.py).

    A failover may go beyond spec.replicas + maxSurge: the failed track keeps its pods while the
    other grows. The track the live Service is still narrowed to keeps its pods until it is not.
    A removed track heads for zero pods like any shrinking one.
    """
    spec = ms.spec
    budget = spec.replicas + surge_pods(spec.max_surge, spec.replicas)
    if target.failover.active:
        budget = max(budget, sum(target.replicas.values()))
    now = {name: TrackPods(int((d.get("spec") or {}).get("replicas") or 0), _ready(d))
           for name, d in observed.deployments.items()}
    narrowed = _selected(ms, observed)
    hold = frozenset({narrowed}) if narrowed and narrowed != target.selector_track else frozenset()
    return step(target.replicas | {track: 0 for track in leaving}, now, budget, hold)


def _children(ms: Microservice, decision: Decision) -> list[dict[str, Any]]:
    objs = [build_service(ms, decision.selector_track)]
    for track in ms.spec.tracks:
        objs.append(build_deployment(ms, track, decision.replicas[track.name]))
        objs.append(build_track_service(ms, track.name))
    return objs


def ident(obj: dict[str, Any]) -> str:
    """How status, events and the controller name one child: "Kind name"."""
    return f"{obj['kind']} {obj['metadata']['name']}"


def _observed_twin(obj: dict[str, Any], observed: Observed) -> dict[str, Any] | None:
    name = obj["metadata"]["name"]
    if obj["kind"] == "Deployment":
        track = obj["metadata"]["labels"][LABEL_TRACK]
        return observed.deployments.get(track)
    if obj["kind"] == "Service":
        return observed.services.get(name)
    return observed.routes.get(name)


def _stale(ms: Microservice, desired: list[dict[str, Any]], observed: Observed,
           leaving: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Observed children the desired state no longer has: removed tracks once drained, an unused HTTPRoute.

    A removed track's Deployment and Service stay until its pods are gone.
    """
    keep = {(o["kind"], o["metadata"]["name"]) for o in desired}
    for track, deployment in leaving.items():
        if not _drained(deployment):
            keep |= {("Deployment", deployment["metadata"]["name"]), ("Service", child_name(ms, track))}
    found = [*observed.deployments.values(), *observed.services.values(), *observed.routes.values()]
    owned_route_kinds = {k.kind for r in all_routers() for k in r.owned_kinds()}
    return [o for o in found
            if (o.get("kind", ""), o["metadata"]["name"]) not in keep
            and o.get("kind") in {"Deployment", "Service", *owned_route_kinds}]


def needs_apply(desired: dict[str, Any], live: dict[str, Any] | None) -> bool:
    """True unless the live object already holds every field of ``desired`` with the same value."""
    return live is None or not is_subset(desired, live)


def is_subset(want: Any, have: Any) -> bool:
    """Dicts: every key of ``want`` matches in ``have``; lists: same length, matching in order."""
    if isinstance(want, dict):
        return isinstance(have, dict) and all(k in have and is_subset(v, have[k]) for k, v in want.items())
    if isinstance(want, list):
        return (isinstance(have, list) and len(want) == len(have)
                and all(is_subset(w, h) for w, h in zip(want, have, strict=True)))
    return bool(want == have)


def _blocked(ms: Microservice, observed: Observed, route: RouteAcceptance | None) -> tuple[str, str] | None:
    """Why Ready is False although the tracks may serve: no Gateway API, a child the API server refused,
    or a Gateway refused the route."""
    if ms.spec.routing.strategy is Strategy.GATEWAY_API and not observed.route_api_available:
        return (conditions.REASON_GATEWAY_API_UNAVAILABLE,
                "the Gateway API CRDs (HTTPRoute gateway.networking.k8s.io/v1) are not installed; "
                "install them or set spec.routing.strategy to Replicas")
    if observed.conflicts:
        return (conditions.REASON_NAME_CONFLICT,
                "; ".join(f"{child} exists and belongs to {owner}, not to Microservice {ms.name}; "
                          "rename this Microservice or its track"
                          for child, owner in sorted(observed.conflicts.items())))
    if observed.rejected:
        return (conditions.REASON_APPLY_REJECTED,
                "; ".join(f"{child} refused by the API server: {message}"
                          for child, message in sorted(observed.rejected.items())))
    if route is not None and route.status == "False":
        return conditions.REASON_ROUTE_NOT_ACCEPTED, route.message
    return None


def _status(ms: Microservice, status: dict[str, Any], tracks: list[dict[str, Any]], observed: Observed,
            decision: Decision, *, converged: bool, blocked: tuple[str, str] | None, route: RouteAcceptance | None,
            now: datetime) -> dict[str, Any]:
    desired = sum(t["replicas"] for t in tracks)
    ready = sum(t["readyReplicas"] for t in tracks)
    rolled_out = all(_rolled_out(observed.deployments.get(t.name)) for t in ms.spec.tracks)
    cause, degraded = _degraded(tracks, decision.degraded_reason)
    facts = conditions.Facts(
        desired=desired, ready=ready, converged=converged and rolled_out,
        degraded_reason=degraded, degraded_cause=cause, failover_active=decision.failover.active,
        failover_reason=decision.failover.reason, blocked_reason=blocked[0] if blocked else None,
        blocked_message=blocked[1] if blocked else "",
        route=(route.status, route.reason, route.message) if route else None,
        not_ready_cause=_stall(tracks),
    )
    conds = conditions.merge(status.get("conditions") or [], conditions.desired_conditions(facts),
                             ms.generation, timestamp(now))
    result: dict[str, Any] = {
        "observedGeneration": ms.generation, "replicas": _pods(observed), "readyReplicas": ready,
        "selector": selector_string(ms), "phase": conditions.phase(conds).value,
        "weights": weights_string(tracks), "conditions": conds, "tracks": tracks,
    }
    failover = _failover_status(decision.failover)
    if failover:
        result["failover"] = failover
    return result


def _pods(observed: Observed) -> int:
    """Pods that exist now in every track, removed ones included: the Deployments' status.replicas.

    This is the scale subresource's status.replicas, which an HPA reads as the pods it measures.
    """
    return sum(int((d.get("status") or {}).get("replicas") or 0) for d in observed.deployments.values())


def _degraded(tracks: list[dict[str, Any]], unhealthy: str | None) -> tuple[str, str | None]:
    """Degraded's reason and message: lasting unhealthy tracks with their pods' reasons, else a stalled
    rollout or refused pods in the Deployment's own words (ProgressDeadlineExceeded, FailedCreate)."""
    details = [f"track {t['name']}: {t['reason']}: {t['message']}" for t in tracks if t.get("reason")]
    if unhealthy:
        return conditions.REASON_TRACK_UNHEALTHY, "; ".join([unhealthy, *details])
    stalled = _stalled(tracks)
    if stalled:
        return stalled[0]["reason"], "; ".join(f"track {t['name']}: {t['message']}" for t in stalled)
    return conditions.REASON_TRACK_UNHEALTHY, None


def _stalled(tracks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The tracks whose Deployment says why pods are missing (FailedCreate, ProgressDeadlineExceeded)."""
    return [t for t in tracks if t.get("reason") in STALLED_REASONS]


def _stall(tracks: list[dict[str, Any]]) -> tuple[str, str] | None:
    """Ready's reason and message from the first stalled track."""
    stalled = _stalled(tracks)
    return (stalled[0]["reason"], f"track {stalled[0]['name']}: {stalled[0]['message']}") if stalled else None


def _rolled_out(deployment: dict[str, Any] | None) -> bool:
    if deployment is None:
        return False
    spec, st = deployment.get("spec") or {}, deployment.get("status") or {}
    want = int(spec.get("replicas") or 0)
    return (int(st.get("observedGeneration") or 0) >= int(deployment["metadata"].get("generation") or 0)
            and int(st.get("updatedReplicas") or 0) == want and int(st.get("readyReplicas") or 0) == want
            and int(st.get("replicas") or 0) == want)


def _failover_status(state: FailoverState) -> dict[str, Any] | None:
    if not state.active and not state.failed_tracks:
        return {"active": False}
    out: dict[str, Any] = {"active": state.active}
    if state.active_track:
        out["activeTrack"] = state.active_track
    if state.failed_tracks:
        out["failedTracks"] = list(state.failed_tracks)
    if state.since:
        out["since"] = timestamp(state.since)
    if state.reason:
        out["reason"] = state.reason
    return out


def _events(ms: Microservice, status: dict[str, Any], result: Plan, observed: Observed,
            decision: Decision) -> list[Event]:
    events = []
    for obj in result.apply:
        if obj["kind"] != "Deployment":
            continue
        track = obj["metadata"]["labels"][LABEL_TRACK]
        live = observed.deployments.get(track)
        want = obj["spec"]["replicas"]
        if live is None:
            events.append(Event("Normal", "Created", f"Deployment {obj['metadata']['name']} with {want} replicas"))
        elif (live.get("spec") or {}).get("replicas") != want:
            events.append(Event("Normal", "Scaled", f"Deployment {obj['metadata']['name']} to {want} replicas"))
    for deployment, replicas in result.scale:
        events.append(Event("Normal", "Draining", f"Deployment {deployment['metadata']['name']} of a removed "
                            f"track to {replicas} replicas"))
    for obj in result.delete:
        events.append(Event("Normal", "Deleted", f"{obj.get('kind')} {obj['metadata']['name']}"))
    old_routing = {t.get("name"): t.get("routingWeight") for t in status.get("tracks") or []}
    new_routing = {n: w for n, w in decision.routing_weights.items()}
    if old_routing and old_routing != new_routing:
        text = ",".join(f"{n}={w}" for n, w in new_routing.items())
        events.append(Event("Normal", "WeightsChanged", f"routing weights now {text}"))
    was_active = bool((status.get("failover") or {}).get("active"))
    if decision.failover.active and not was_active:
        events.append(Event("Warning", "FailedOver", decision.failover.reason or "failed over"))
    elif was_active and not decision.failover.active:
        events.append(Event("Normal", "FailedBack", "traffic follows the configured weights again"))
    return events
