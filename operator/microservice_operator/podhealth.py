"""Which of a track's pods are starting and which are failing, from the pods and their Deployment. Pure.

Health is "ready pods against the track's desired pods"; a pod that is still starting within its
startup budget counts on the track's side, so creating a Microservice, scaling it up (an HPA,
``kubectl scale``) or rolling out a new image never looks like a failure. A pod counts as failing
once one of its containers crashed, cannot be pulled or configured, stopped being ready after it
was ready, or is still not ready when its budget is spent. Pods are read only for a track that has
fewer ready pods than its Deployment wants: there is no pod watch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

# Waiting reasons that do not heal by waiting (kubelet's names).
STUCK_WAITING = frozenset({
    "CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "ErrImageNeverPull", "InvalidImageName",
    "CreateContainerConfigError", "CreateContainerError", "RunContainerError", "PreStartHookError",
})
BACK_OFF = re.compile(r"^back-off \S+ ")
# Kubernetes' probe defaults (core/v1 Probe).
PROBE_PERIOD, PROBE_FAILURES = 10, 3
# Time to create a pod's sandbox and containers once scheduled; images are local or pulled meanwhile.
CONTAINER_START_SECONDS = 30
# Deployment conditions that say a rollout cannot go on, and their reasons as the Deployment controller sets them.
STALLED_CONDITIONS = (("Progressing", "False"), ("ReplicaFailure", "True"))
STALLED_REASONS = frozenset({"ProgressDeadlineExceeded", "FailedCreate", "FailedDelete"})


@dataclass(frozen=True)
class Problem:
    """Why pods of a track do not serve, in Kubernetes' words: a reason and its message."""

    reason: str
    message: str


@dataclass(frozen=True)
class PodCounts:
    """A track's pods as health counts them."""

    ready: int
    starting: int
    problem: Problem | None = None
    budget_ends: datetime | None = None  # when the first starting pod runs out of startup budget


def _probe_budget(probe: dict[str, Any] | None) -> int:
    if not isinstance(probe, dict):
        return 0
    return int(probe.get("initialDelaySeconds") or 0) + \
        int(probe.get("periodSeconds") or PROBE_PERIOD) * int(probe.get("failureThreshold") or PROBE_FAILURES)


def startup_budget(deployment: dict[str, Any], container: str) -> timedelta:
    """How long a pod of ``deployment`` may take to become ready: its container's startupProbe budget,
    then its readinessProbe's, after the time to start its containers."""
    pod_spec = (((deployment.get("spec") or {}).get("template") or {}).get("spec")) or {}
    app: dict[str, Any] = next((c for c in pod_spec.get("containers") or [] if c.get("name") == container), {})
    seconds = _probe_budget(app.get("startupProbe")) + _probe_budget(app.get("readinessProbe"))
    return timedelta(seconds=seconds + CONTAINER_START_SECONDS)


def deployment_problem(deployment: dict[str, Any] | None) -> Problem | None:
    """A stalled rollout (ProgressDeadlineExceeded) or refused pods (ReplicaFailure), as its condition says."""
    for cond in ((deployment or {}).get("status") or {}).get("conditions") or []:
        if (cond.get("type"), cond.get("status")) in STALLED_CONDITIONS:
            return Problem(cond.get("reason") or str(cond.get("type")), cond.get("message") or "")
    return None


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def _condition(pod: dict[str, Any], ctype: str) -> dict[str, Any]:
    return next((c for c in (pod.get("status") or {}).get("conditions") or [] if c.get("type") == ctype), {})


def _container_problem(pod: dict[str, Any]) -> Problem | None:
    """A container that crashed, restarted or cannot start, with the kubelet's reason and message."""
    name = pod["metadata"]["name"]
    status = pod.get("status") or {}
    for cs in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]:
        state = cs.get("state") or {}
        waiting, terminated = state.get("waiting") or {}, state.get("terminated") or {}
        if waiting.get("reason") in STUCK_WAITING:
            # "back-off 40s restarting ...": the delay grows with each crash; left out so status stays put
            message = BACK_OFF.sub("", waiting.get("message") or waiting["reason"])
            return Problem(waiting["reason"], f"pod {name}: {message}")
        if int(terminated.get("exitCode") or 0) != 0:
            return Problem(terminated.get("reason") or "Error",
                           f"pod {name}: container {cs.get('name')} exited with status {terminated['exitCode']}")
        if int(cs.get("restartCount") or 0) > 0 and not cs.get("ready"):
            last = (cs.get("lastState") or {}).get("terminated") or {}
            return Problem("CrashLoopBackOff", f"pod {name}: container {cs.get('name')} restarted "
                           f"{cs['restartCount']} times (last exit status {last.get('exitCode', 'unknown')})")
    if status.get("phase") == "Failed":
        return Problem(status.get("reason") or "PodFailed", f"pod {name}: {status.get('message') or 'failed'}")
    return None


def classify(pod: dict[str, Any], container: str, budget: timedelta, now: datetime,
             ) -> tuple[str, Problem | None, datetime | None]:
    """``ready``, ``starting`` (with when its budget ends) or ``failing`` (with why) for one pod."""
    if _condition(pod, "Ready").get("status") == "True":
        return "ready", None, None
    problem = _container_problem(pod)
    if problem is not None:
        return "failing", problem, None
    name = pod["metadata"]["name"]
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    app: dict[str, Any] = next((c for c in statuses if c.get("name") == container), {})
    started = _time(((app.get("state") or {}).get("running") or {}).get("startedAt"))
    ready_changed = _time(_condition(pod, "Ready").get("lastTransitionTime"))
    if started is not None and ready_changed is not None and ready_changed > started:
        cond = _condition(pod, "Ready")
        return "failing", Problem(cond.get("reason") or "NotReady",
                                  f"pod {name}: {cond.get('message') or 'stopped being ready'}"), None
    origin = started or _time(pod["metadata"].get("creationTimestamp")) or now
    if now < origin + budget:
        return "starting", None, origin + budget
    scheduled = _condition(pod, "PodScheduled")
    if scheduled.get("status") == "False":
        return "failing", Problem(scheduled.get("reason") or "Unschedulable",
                                  f"pod {name}: {scheduled.get('message') or 'not scheduled'}"), None
    return "failing", Problem("StartupTimeout", f"pod {name}: not ready {int(budget.total_seconds())} s "
                              "after it started"), None


def track_pods(deployment: dict[str, Any] | None, pods: list[dict[str, Any]] | None, desired: int,
               container: str, now: datetime) -> PodCounts:
    """The track's ready and starting pods out of ``desired``; ``pods`` None when they were not read
    (the controller reads them when fewer are ready than the Deployment wants).

    Pods the Deployment has not created yet count as starting, unless it reports that they are
    refused (ReplicaFailure). Pods being deleted do not count.
    """
    stalled = deployment_problem(deployment)
    ready_now = int(((deployment or {}).get("status") or {}).get("readyReplicas") or 0)
    if pods is None:  # unread: only the pods the Deployment is not asked for yet count as starting
        wanted = int(((deployment or {}).get("spec") or {}).get("replicas") or 0)
        return PodCounts(ready_now, max(0, desired - max(ready_now, wanted)), stalled)
    live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
    budget = startup_budget(deployment or {}, container)
    ready = starting = 0
    problem: Problem | None = None
    ends: list[datetime] = []
    for pod in live:
        kind, why, deadline = classify(pod, container, budget, now)
        ready += kind == "ready"
        starting += kind == "starting"
        problem = problem or why
        ends += [deadline] if deadline else []
    refused = stalled is not None and stalled.reason != "ProgressDeadlineExceeded"
    missing = 0 if refused else max(0, desired - len(live))
    return PodCounts(ready, starting + missing, stalled or problem, min(ends) if ends else None)
