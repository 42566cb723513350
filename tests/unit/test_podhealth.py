"""Which pods are starting and which are failing: the rules of podhealth.py, table-tested."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from microservice_operator.podhealth import classify, deployment_problem, startup_budget, track_pods

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
BUDGET = timedelta(seconds=90)


def at(seconds_ago: float) -> str:
    return (NOW - timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod(name: str = "p", *, ready: bool = False, ready_changed: float = 100, started: float | None = 99,
        created: float = 100, restarts: int = 0, waiting: str | None = None, exit_code: int | None = None,
        deleting: bool = False) -> dict[str, Any]:
    state: dict[str, Any] = {}
    if waiting:
        state["waiting"] = {"reason": waiting, "message": f"back-off 40s restarting failed container=app pod={name}"}
    elif exit_code is not None:
        state["terminated"] = {"exitCode": exit_code, "reason": "Error"}
    elif started is not None:
        state["running"] = {"startedAt": at(started)}
    meta: dict[str, Any] = {"name": name, "creationTimestamp": at(created)}
    if deleting:
        meta["deletionTimestamp"] = at(1)
    return {"metadata": meta, "status": {
        "phase": "Running" if started is not None else "Pending",
        "conditions": [{"type": "Ready", "status": "True" if ready else "False", "reason": "ContainersNotReady",
                        "message": "containers with unready status: [app]", "lastTransitionTime": at(ready_changed)}],
        "containerStatuses": [{"name": "app", "ready": ready, "restartCount": restarts, "state": state}]}}


@pytest.mark.parametrize(("given", "kind", "reason"), [
    (pod(ready=True), "ready", None),
    (pod(started=10, created=12, ready_changed=12), "starting", None),  # startup probe still running
    (pod(started=None, created=5), "starting", None),  # ContainerCreating
    (pod(started=200, created=201, ready_changed=201), "failing", "StartupTimeout"),  # budget spent
    (pod(started=50, ready_changed=20), "failing", "ContainersNotReady"),  # was ready, stopped
    (pod(waiting="CrashLoopBackOff", restarts=3), "failing", "CrashLoopBackOff"),
    (pod(waiting="ImagePullBackOff", started=None), "failing", "ImagePullBackOff"),
    (pod(exit_code=1), "failing", "Error"),
    (pod(restarts=1, started=2), "failing", "CrashLoopBackOff"),
])
def test_classify(given: dict[str, Any], kind: str, reason: str | None) -> None:
    found, problem, _ = classify(given, "app", BUDGET, NOW)
    assert found == kind
    assert (problem.reason if problem else None) == reason


def test_the_back_off_delay_is_left_out_of_the_message_so_status_does_not_churn() -> None:
    _, problem, _ = classify(pod("x", waiting="CrashLoopBackOff", restarts=4), "app", BUDGET, NOW)
    assert problem is not None and problem.message == "pod x: restarting failed container=app pod=x"


def test_the_budget_is_the_startup_probe_then_the_readiness_probe_after_the_container_start() -> None:
    deployment = {"spec": {"template": {"spec": {"containers": [{
        "name": "app", "startupProbe": {"periodSeconds": 1, "failureThreshold": 60},
        "readinessProbe": {"periodSeconds": 5}}]}}}}
    assert startup_budget(deployment, "app") == timedelta(seconds=60 + 15 + 30)


def test_a_scale_up_counts_pods_not_yet_created_as_starting_unless_they_are_refused() -> None:
    deployment: dict[str, Any] = {"status": {"readyReplicas": 2}}
    counts = track_pods(deployment, [pod("a", ready=True), pod("b", ready=True), pod("c", deleting=True)], 6,
                        "app", NOW)
    assert (counts.ready, counts.starting, counts.problem) == (2, 4, None)
    deployment["status"]["conditions"] = [{"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
                                           "message": 'pods "x" is forbidden: violates PodSecurity'}]
    refused = track_pods(deployment, [pod("a", ready=True)], 6, "app", NOW)
    assert refused.starting == 0 and refused.problem is not None and refused.problem.reason == "FailedCreate"


def test_a_stalled_rollout_is_its_deployments_condition() -> None:
    deployment = {"status": {"readyReplicas": 2, "conditions": [
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
         "message": 'ReplicaSet "u-v1-1" has timed out progressing.'}]}}
    problem = deployment_problem(deployment)
    assert problem is not None and problem.reason == "ProgressDeadlineExceeded"
    deployment["spec"] = {"replicas": 2}
    counts = track_pods(deployment, None, 2, "app", NOW)
    assert (counts.ready, counts.starting) == (2, 0) and counts.problem == problem
