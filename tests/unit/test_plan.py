from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from microservice_operator.plan import Observed, is_subset, plan

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def body(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "microservice-operator.io/v1alpha1", "kind": "Microservice",
            "metadata": {"name": "user", "namespace": "shop", "uid": "u1", "generation": 2},
            "spec": {"replicas": 10, "tracks": [{"name": "v1", "image": "i:1", "weight": 90},
                                                {"name": "v2", "image": "i:2", "weight": 10}], **spec}}


def converged_world(b: dict[str, Any], ready: dict[str, int] | None = None) -> tuple[Observed, dict[str, Any]]:
    """Plays the API server: every planned object exists, Deployments fully rolled out."""
    first = plan(b, Observed(), NOW)
    observed = Observed()
    for obj in first.apply:
        live = copy.deepcopy(obj)
        live["metadata"].update(uid=f"uid-{obj['metadata']['name']}", generation=1, resourceVersion="5")
        if obj["kind"] == "Deployment":
            track = obj["metadata"]["labels"]["microservice-operator.io/track"]
            n = obj["spec"]["replicas"] if ready is None else ready[track]
            live["spec"]["template"]["spec"]["containers"][0]["terminationMessagePath"] = "/dev/termination-log"
            live["status"] = {"observedGeneration": 1, "replicas": obj["spec"]["replicas"], "readyReplicas": n,
                              "updatedReplicas": obj["spec"]["replicas"]}
            observed.deployments[track] = live
        elif obj["kind"] == "HTTPRoute":
            observed.routes[obj["metadata"]["name"]] = live
        else:
            observed.services[obj["metadata"]["name"]] = live
    return observed, {**b, "status": first.status}


def test_first_plan_creates_everything_with_events() -> None:
    p = plan(body(), Observed(), NOW)
    assert [(o["kind"], o["metadata"]["name"]) for o in p.apply] == [
        ("Service", "user"), ("Deployment", "user-v1"), ("Service", "user-v1"),
        ("Deployment", "user-v2"), ("Service", "user-v2")]
    assert [e.reason for e in p.events] == ["Created", "Created"]
    assert p.status["observedGeneration"] == 2 and p.status["replicas"] == 0  # no pod exists yet
    assert p.status["tracks"][0]["replicas"] == 9
    assert p.status["selector"] == "microservice-operator.io/microservice=user"


def test_converged_object_plans_nothing_and_an_idle_resync_keeps_the_status() -> None:
    b = body()
    observed, _ = converged_world(b)
    settled = plan(b, observed, NOW)
    b["status"] = settled.status
    again = plan(b, observed, NOW + timedelta(minutes=5))
    assert again.apply == [] and again.delete == [] and again.events == []
    assert again.status == b["status"]
    assert again.status["phase"] == "Ready" and again.status["weights"] == "v1=90,v2=10"


def test_drift_is_planned_back() -> None:
    b = body()
    observed, b = converged_world(b)
    observed.deployments["v1"]["spec"]["replicas"] = 3
    del observed.services["user-v2"]
    p = plan(b, observed, NOW)
    assert sorted((o["kind"], o["metadata"]["name"]) for o in p.apply) == [
        ("Deployment", "user-v1"), ("Service", "user-v2")]
    assert [e.message for e in p.events] == ["Deployment user-v1 to 9 replicas"]


def test_a_removed_track_is_drained_after_the_others_grow_and_deleted_once_its_pods_are_gone() -> None:
    observed, b = converged_world(body())
    b["spec"]["tracks"] = [{"name": "v1", "image": "i:1", "weight": 100}]
    grow = plan(b, observed, NOW)
    assert grow.delete == [] and grow.scale == []
    assert [o["spec"]["replicas"] for o in grow.apply if o["kind"] == "Deployment"] == [10]
    assert grow.status["conditions"][1]["status"] == "True"  # Progressing while the track leaves
    v1, v2 = observed.deployments["v1"], observed.deployments["v2"]
    v1["spec"]["replicas"], v1["status"]["readyReplicas"] = 10, 9
    assert plan(b, observed, NOW).scale == []  # v1's new pod is not ready: v2 keeps serving
    v1["status"]["readyReplicas"] = 10
    drain = plan(b, observed, NOW)
    assert [(d["metadata"]["name"], n) for d, n in drain.scale] == [("user-v2", 0)] and drain.delete == []
    assert "Draining" in [e.reason for e in drain.events]
    v2["spec"]["replicas"], v2["status"] = 0, {"observedGeneration": 1, "replicas": 1, "readyReplicas": 0}
    assert plan(b, observed, NOW).delete == []  # a pod still terminating
    v2["status"]["replicas"] = 0
    gone = plan(b, observed, NOW)
    assert sorted(o["kind"] for o in gone.delete) == ["Deployment", "Service"]
    assert {o["metadata"]["name"] for o in gone.delete} == {"user-v2"}


def test_status_replicas_counts_the_pods_that_exist() -> None:
    observed, b = converged_world(body())
    observed.deployments["v1"]["status"]["replicas"] = 12  # a surge
    assert plan(b, observed, NOW).status["replicas"] == 13


def test_invalid_spec_touches_nothing_and_says_which_field() -> None:
    observed, b = converged_world(body())
    b["spec"]["tracks"][1]["weight"] = 20
    p = plan(b, observed, NOW)
    assert p.invalid and p.apply == [] and p.delete == []
    assert p.status["phase"] == "Invalid"
    ready = p.status["conditions"][0]
    assert ready["reason"] == "InvalidSpec" and "spec.tracks: weights must sum to 100, found 110" in ready["message"]
    assert [e.type for e in p.events] == ["Warning"]
    b["status"] = p.status
    assert plan(b, observed, NOW).events == []  # no repeated warning on every resync


@pytest.mark.parametrize(("name", "fragment"), [
    ("a" * 50, "must be at most 63"),
    ("1user", "DNS-1035"),
])
def test_names_the_api_server_would_reject_are_invalid(name: str, fragment: str) -> None:
    b = body()
    b["metadata"]["name"] = name
    b["spec"]["tracks"][0]["name"] = "a-long-track-name-xx"
    p = plan(b, Observed(), NOW)
    assert p.invalid and fragment in p.status["conditions"][0]["message"]


def test_validation_messages_name_the_field() -> None:
    b = body()
    del b["spec"]["tracks"][0]["image"]
    assert "spec.tracks[0].image: Field required" in plan(b, Observed(), NOW).status["conditions"][0]["message"]


@pytest.mark.parametrize("surge", [0, -1, "0%", "101%", "25", "a%"])
def test_a_bad_max_surge_is_invalid_and_named(surge: int | str) -> None:
    message = plan(body(maxSurge=surge), Observed(), NOW).status["conditions"][0]["message"]
    assert f"spec.maxSurge: {surge!r} must be a number of pods (at least 1) or a percentage" in message


def test_a_weight_edit_grows_the_new_track_before_the_old_one_shrinks() -> None:
    observed, b = converged_world(body())
    b["spec"]["tracks"][0]["weight"], b["spec"]["tracks"][1]["weight"] = 0, 100
    p = plan(b, observed, NOW)
    assert {t["name"]: t["replicas"] for t in p.status["tracks"]} == {"v1": 9, "v2": 4}  # maxSurge 25%: 3
    assert p.status["phase"] == "Progressing"


def test_effective_weight_follows_ready_pods() -> None:
    observed, b = converged_world(body(), ready={"v1": 3, "v2": 1})
    p = plan(b, observed, NOW)
    assert p.status["weights"] == "v1=75,v2=25"
    assert p.status["readyReplicas"] == 4 and p.status["phase"] == "Progressing"


def test_active_standby_narrows_the_shared_service_once_the_standby_serves() -> None:
    spec = {"failover": {"policy": "ActiveStandby", "primary": "v1", "standby": "v2", "unhealthyAfterSeconds": 0}}
    observed, b = converged_world(body(**spec), ready={"v1": 3, "v2": 1})
    p = plan(b, observed, NOW + timedelta(seconds=1))
    # Make before break: the standby grows, the Service still reaches the primary's 3 ready pods.
    assert not [o for o in p.apply if o["kind"] == "Service"]
    assert {t["name"]: t["replicas"] for t in p.status["tracks"]} == {"v1": 9, "v2": 10}
    assert p.status["failover"]["active"] is True and p.status["phase"] == "FailedOver"
    assert p.status["failover"]["reason"].endswith("; waiting until the standby serves (1/10 ready)")
    assert [e.reason for e in p.events if e.type == "Warning"] == ["FailedOver"]

    observed.deployments["v2"]["spec"]["replicas"] = 10
    observed.deployments["v2"]["status"]["readyReplicas"] = 5
    p = plan({**b, "status": p.status}, observed, NOW + timedelta(seconds=2))
    service = next(o for o in p.apply if o["kind"] == "Service")
    assert service["spec"]["selector"]["microservice-operator.io/track"] == "v2"
    assert "waiting" not in p.status["failover"]["reason"]
    assert not [e for e in p.events if e.type == "Warning"]  # one FailedOver event per failover


def test_gateway_strategy_without_crds_is_reported_and_other_children_still_applied() -> None:
    spec = {"routing": {"strategy": "GatewayAPI", "gateway": {"parentRefs": [{"name": "gw"}]}}}
    p = plan(body(**spec), Observed(route_api_available=False), NOW)
    assert "HTTPRoute" not in [o["kind"] for o in p.apply] and len(p.apply) == 5
    ready = p.status["conditions"][0]
    assert ready["reason"] == "GatewayAPIUnavailable" and "Gateway API CRDs" in ready["message"]


def gateway_world(route_status: dict[str, Any] | None) -> tuple[dict[str, Any], Observed]:
    """A converged GatewayAPI Microservice whose live HTTPRoute carries ``route_status``."""
    b = body(routing={"strategy": "GatewayAPI", "gateway": {"parentRefs": [{"name": "local"}]}})
    observed, b = converged_world(b)
    if route_status:
        observed.routes["user"]["status"] = route_status
    for _ in range(2):  # settle the status, as the second reconcile does
        b = {**b, "status": plan(b, observed, NOW).status}
    return b, observed


def test_a_route_the_gateway_refused_keeps_ready_false_with_its_message() -> None:
    refused = {"parents": [{"parentRef": {"name": "local"}, "conditions": [
        {"type": "Accepted", "status": "False", "reason": "NotAllowedByListeners", "message": "not from shop"}]}]}
    b, observed = gateway_world(refused)
    conds = {x["type"]: x for x in b["status"]["conditions"]}
    assert conds["Ready"]["status"] == "False" and conds["Ready"]["reason"] == "RouteNotAccepted"
    assert "Gateway shop/local: Accepted=False, NotAllowedByListeners: not from shop" in conds["Ready"]["message"]
    assert conds["RouteAccepted"]["status"] == "False" and b["status"]["phase"] == "Degraded"
    assert plan(b, observed, NOW).apply == []  # nothing to write again: no hot loop


def test_a_route_without_gateway_status_is_unknown_and_does_not_block_ready() -> None:
    b, _ = gateway_world(None)
    conds = {x["type"]: x for x in b["status"]["conditions"]}
    assert conds["Ready"]["status"] == "True" and conds["RouteAccepted"]["status"] == "Unknown"
    accepted = {"parents": [{"parentRef": {"name": "local"}, "conditions": [
        {"type": "Accepted", "status": "True", "reason": "Accepted"},
        {"type": "ResolvedRefs", "status": "True", "reason": "ResolvedRefs"}]}]}
    b, _ = gateway_world(accepted)
    assert {x["type"]: x["status"] for x in b["status"]["conditions"]}["RouteAccepted"] == "True"


def test_switching_back_to_replicas_deletes_the_route() -> None:
    spec = {"routing": {"strategy": "GatewayAPI", "gateway": {"parentRefs": [{"name": "gw"}]}}}
    first = plan(body(**spec), Observed(), NOW)
    route = next(o for o in first.apply if o["kind"] == "HTTPRoute")
    observed, b = converged_world(body())
    observed.routes["user"] = {**route, "metadata": {**route["metadata"], "uid": "r1"}}
    assert [o["kind"] for o in plan(b, observed, NOW).delete] == ["HTTPRoute"]


@pytest.mark.parametrize(("want", "have", "expected"), [
    ({"a": 1}, {"a": 1, "b": 2}, True),
    ({"a": [{"x": 1}]}, {"a": [{"x": 1, "y": 2}]}, True),
    ({"a": [1]}, {"a": [1, 2]}, False),
    ({"a": {"b": 1}}, {"a": {"b": 2}}, False),
    ({"a": 1}, {}, False),
])
def test_is_subset(want: Any, have: Any, expected: bool) -> None:
    assert is_subset(want, have) is expected


def test_every_written_status_matches_the_crd_status_schema() -> None:
    from microservice_operator.api import MicroserviceStatus

    observed, b = converged_world(body())
    bad = {**b, "spec": {**b["spec"], "replicas": -1}}
    spec = {"failover": {"policy": "Redistribute", "unhealthyAfterSeconds": 0}}
    failing, fb = converged_world(body(**spec), ready={"v1": 0, "v2": 1})
    for status in (plan(b, observed, NOW).status, plan(bad, observed, NOW).status,
                   plan(fb, failing, NOW + timedelta(seconds=1)).status):
        MicroserviceStatus.model_validate(status)


def _pod(name: str, ready: bool, restarts: int = 0) -> dict[str, Any]:
    started = (NOW - timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"metadata": {"name": name, "creationTimestamp": started}, "status": {
        "conditions": [{"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": started}],
        "containerStatuses": [{"name": "app", "ready": ready, "restartCount": restarts,
                               "state": {"running": {"startedAt": started}}}]}}


def test_pods_that_start_do_not_fail_over_but_pods_that_crash_do_with_the_reason_in_status() -> None:
    spec = {"failover": {"policy": "ActiveStandby", "primary": "v1", "standby": "v2", "unhealthyAfterSeconds": 0}}
    observed, b = converged_world(body(**spec), ready={"v1": 3, "v2": 1})
    observed.pods["v1"] = [_pod(f"v1-{i}", i < 3) for i in range(9)]
    starting = plan(b, observed, NOW + timedelta(seconds=1))
    assert starting.status["failover"] == {"active": False} and starting.status["tracks"][0]["healthy"] is True
    assert starting.next_deadline is not None  # starting pods are read again
    observed.pods["v1"] = [_pod(f"v1-{i}", i < 3, restarts=0 if i < 3 else 2) for i in range(9)]
    crashing = plan(b, observed, NOW + timedelta(seconds=1))
    assert crashing.status["failover"]["active"] is True
    assert crashing.status["tracks"][0]["reason"] == "CrashLoopBackOff"
    assert "track v1: CrashLoopBackOff: pod v1-3" in crashing.status["conditions"][2]["message"]


def test_a_child_the_api_server_refused_keeps_ready_false_and_warns_once() -> None:
    b = body()
    observed, b = converged_world(b)
    observed.rejected = {"Deployment user-v2": 'Deployment.apps "user-v2" is invalid: spec.template.spec.'
                                                'containers[0].resources.requests: Invalid value: "2": must be '
                                                'less than or equal to cpu limit of 1'}
    refused = plan(b, observed, NOW)
    ready = next(c for c in refused.status["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "ApplyRejected")
    assert ready["message"].startswith("Deployment user-v2 refused by the API server: Deployment.apps")
    assert "resources.requests" in ready["message"] and refused.status["phase"] == "Degraded"
    assert [(e.type, e.reason) for e in refused.events] == [("Warning", "ApplyRejected")]
    again = plan({**b, "status": refused.status}, observed, NOW + timedelta(seconds=30))
    assert again.events == [] and again.status == refused.status  # the retry neither warns nor writes again
    observed.rejected = {}
    recovered = plan({**b, "status": refused.status}, observed, NOW + timedelta(seconds=60))
    assert recovered.status["phase"] == "Ready" and recovered.events == []


def test_a_name_taken_by_another_owner_is_never_applied_and_is_reported() -> None:
    b = body()
    observed = Observed(conflicts={"Service user-v1": "Microservice user-v1"})
    p = plan(b, observed, NOW)
    assert ("Service", "user-v1") not in [(o["kind"], o["metadata"]["name"]) for o in p.apply]
    assert ("Deployment", "user-v1") in [(o["kind"], o["metadata"]["name"]) for o in p.apply]
    assert p.delete == []
    ready = next(c for c in p.status["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "NameConflict")
    assert ready["message"].startswith("Service user-v1 exists and belongs to Microservice user-v1, "
                                       "not to Microservice user")
    assert [(e.type, e.reason) for e in p.events if e.type == "Warning"] == [("Warning", "NameConflict")]
    again = plan({**b, "status": p.status}, observed, NOW + timedelta(seconds=30))
    assert [e for e in again.events if e.reason == "NameConflict"] == []
