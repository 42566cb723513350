"""Gateway API routing and failover on the real local cluster, driven by real pod readiness."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.conftest import OperatorProcess
from tests.support import kube
from tests.support.kube import set_pods_ready, wait_for
from tests.support.ms import manifest, replicas_by_track, wait_converged

pytestmark = pytest.mark.cluster
GATEWAY_CRDS = kube.STATE / "gateway-api"
HTTPROUTES_CRD = "httproutes.gateway.networking.k8s.io"
GATEWAY = {"parentRefs": [{"name": "gw", "sectionName": "http"}], "hostnames": ["user.example"]}


def install_gateway_crds() -> None:
    kube.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(GATEWAY_CRDS))
    kube.kubectl("wait", "--for=condition=Established", f"crd/{HTTPROUTES_CRD}", "--timeout=60s")


@pytest.fixture
def gateway_crds(cluster: object) -> None:
    install_gateway_crds()


def route_weights(namespace: str, name: str = "user") -> dict[str, int] | None:
    result = kube.kubectl("get", "httproute", name, "-n", namespace, "-o", "json", check=False)
    if result.returncode != 0:
        return None
    refs = json.loads(result.stdout)["spec"]["rules"][0]["backendRefs"]
    return {r["name"].removeprefix(f"{name}-"): r["weight"] for r in refs}


def status(namespace: str, name: str = "user") -> dict[str, Any]:
    return kube.get_ms(namespace, name).get("status") or {}


def service_selector(namespace: str, name: str = "user") -> dict[str, str]:
    return dict(kube.core().read_namespaced_service(name, namespace).spec.selector)


def events(namespace: str) -> list[tuple[str, str]]:
    items = json.loads(kube.kubectl("get", "events", "-n", namespace, "-o", "json").stdout)["items"]
    return [(e["type"], e["reason"]) for e in items if e["involvedObject"]["kind"] == "Microservice"]


def failed_over(namespace: str, name: str = "user") -> bool:
    return bool((status(namespace, name).get("failover") or {}).get("active"))


def active_standby(namespace: str, **spec: Any) -> dict[str, Any]:
    return manifest(namespace, tracks=[("primary", 90), ("standby", 10)], failover={
        "policy": "ActiveStandby", "primary": "primary", "standby": "standby",
        "unhealthyAfterSeconds": 2, "failbackAfterSeconds": 3}, **spec)


PRIMARY = "microservice-operator.io/microservice=user,microservice-operator.io/track=primary"


def test_missing_gateway_api_is_reported_then_resolved(namespace: str, operator_alive: OperatorProcess) -> None:
    kube.kubectl("delete", "crd", HTTPROUTES_CRD, "--ignore-not-found", "--wait=true")
    kube.apply_obj(manifest(namespace, routing={"strategy": "GatewayAPI", "gateway": GATEWAY}))

    def unavailable() -> dict[str, Any] | None:
        ready = next((c for c in status(namespace).get("conditions") or [] if c["type"] == "Ready"), {})
        return ready if ready.get("reason") == "GatewayAPIUnavailable" else None

    ready = wait_for(unavailable, what="Ready=False GatewayAPIUnavailable")
    assert ready["status"] == "False" and "Gateway API CRDs" in ready["message"]
    assert replicas_by_track(namespace) == {"v1": 9, "v2": 1}  # nothing else breaks
    install_gateway_crds()
    wait_for(lambda: route_weights(namespace) == {"v1": 90, "v2": 10}, timeout=30, what="the HTTPRoute")
    assert wait_converged(namespace)["status"]["phase"] == "Ready"


def test_httproute_weights_follow_edits_and_go_away_with_the_strategy(
        namespace: str, gateway_crds: None, operator_alive: OperatorProcess) -> None:
    kube.apply_obj(manifest(namespace, routing={"strategy": "GatewayAPI", "gateway": GATEWAY}))
    wait_for(lambda: route_weights(namespace) == {"v1": 90, "v2": 10}, what="route 90/10")
    route = json.loads(kube.kubectl("get", "httproute", "user", "-n", namespace, "-o", "json").stdout)
    assert route["spec"]["parentRefs"][0]["name"] == "gw" and route["spec"]["hostnames"] == ["user.example"]
    assert [r["name"] for r in route["spec"]["rules"][0]["backendRefs"]] == ["user-v1", "user-v2"]
    patch = [{"op": "replace", "path": "/spec/tracks/0/weight", "value": 50},
             {"op": "replace", "path": "/spec/tracks/1/weight", "value": 50}]
    kube.kubectl("patch", "ms", "user", "-n", namespace, "--type=json", "-p", json.dumps(patch))
    wait_for(lambda: route_weights(namespace) == {"v1": 50, "v2": 50}, what="route 50/50")
    assert wait_for(lambda: replicas_by_track(namespace) == {"v1": 5, "v2": 5}, what="capacity follows traffic")
    kube.kubectl("patch", "ms", "user", "-n", namespace, "--type=merge", "-p",
                 json.dumps({"spec": {"routing": {"strategy": "Replicas", "gateway": None}}}))
    wait_for(lambda: route_weights(namespace) is None, what="the HTTPRoute to be deleted")


def _fail_and_recover_primary(namespace: str) -> None:
    assert set_pods_ready(namespace, PRIMARY, False) == 9
    wait_for(lambda: failed_over(namespace), timeout=15, what="failover")
    st = status(namespace)
    assert st["failover"]["activeTrack"] == "standby" and st["phase"] == "FailedOver"
    assert {c["type"]: c["status"] for c in st["conditions"]}["FailedOver"] == "True"
    wait_for(lambda: replicas_by_track(namespace) == {"primary": 9, "standby": 10}, what="standby scaled up")
    assert ("Warning", "FailedOver") in events(namespace)
    set_pods_ready(namespace, PRIMARY, True)
    wait_for(lambda: not failed_over(namespace), timeout=15, what="failback")
    wait_for(lambda: replicas_by_track(namespace) == {"primary": 9, "standby": 1}, what="configured replicas")
    assert ("Normal", "FailedBack") in events(namespace)


def test_active_standby_replicas_strategy_fails_over_and_back(namespace: str,
                                                              operator_alive: OperatorProcess) -> None:
    kube.apply_obj(active_standby(namespace))
    wait_converged(namespace)
    assert "microservice-operator.io/track" not in service_selector(namespace)
    assert set_pods_ready(namespace, PRIMARY, False) == 9
    wait_for(lambda: service_selector(namespace).get("microservice-operator.io/track") == "standby",
             timeout=15, what="the shared Service to select only the standby")
    set_pods_ready(namespace, PRIMARY, True)
    wait_for(lambda: not failed_over(namespace), timeout=15, what="failback")
    _fail_and_recover_primary(namespace)
    assert "microservice-operator.io/track" not in service_selector(namespace)


def test_active_standby_gateway_strategy_fails_over_and_back(
        namespace: str, gateway_crds: None, operator_alive: OperatorProcess) -> None:
    kube.apply_obj(active_standby(namespace, routing={"strategy": "GatewayAPI", "gateway": GATEWAY}))
    wait_for(lambda: route_weights(namespace) == {"primary": 90, "standby": 10}, what="route 90/10")
    wait_converged(namespace)  # the route exists before the pods: every primary pod must be there to fail
    assert set_pods_ready(namespace, PRIMARY, False) == 9
    wait_for(lambda: route_weights(namespace) == {"primary": 0, "standby": 100}, timeout=15,
             what="route standby=100")
    set_pods_ready(namespace, PRIMARY, True)
    wait_for(lambda: route_weights(namespace) == {"primary": 90, "standby": 10}, timeout=15, what="route back")
    _fail_and_recover_primary(namespace)


def test_flapping_faster_than_the_dwell_does_not_fail_over(namespace: str,
                                                           operator_alive: OperatorProcess) -> None:
    spec = active_standby(namespace)
    spec["spec"]["failover"]["unhealthyAfterSeconds"] = 3
    kube.apply_obj(spec)
    wait_converged(namespace)
    for _ in range(4):
        set_pods_ready(namespace, PRIMARY, False)
        time.sleep(1.2)
        assert not failed_over(namespace)
        set_pods_ready(namespace, PRIMARY, True)
        time.sleep(0.8)
    time.sleep(3.5)
    assert not failed_over(namespace) and replicas_by_track(namespace) == {"primary": 9, "standby": 1}


def test_redistribute_moves_an_unhealthy_tracks_share(namespace: str, operator_alive: OperatorProcess) -> None:
    kube.apply_obj(manifest(namespace, tracks=[("a", 50), ("b", 30), ("c", 20)], failover={
        "policy": "Redistribute", "unhealthyAfterSeconds": 1, "failbackAfterSeconds": 2}))
    wait_converged(namespace)
    set_pods_ready(namespace, "microservice-operator.io/track=c", False)
    wait_for(lambda: replicas_by_track(namespace) == {"a": 6, "b": 4, "c": 2}, timeout=15,
             what="healthy tracks scaled to carry spec.replicas")
    tracks = {t["name"]: t for t in status(namespace)["tracks"]}
    assert {n: t["routingWeight"] for n, t in tracks.items()} == {"a": 63, "b": 37, "c": 0}
    assert tracks["c"]["healthy"] is False and status(namespace)["failover"]["failedTracks"] == ["c"]
    set_pods_ready(namespace, "microservice-operator.io/track=c", True)
    wait_for(lambda: replicas_by_track(namespace) == {"a": 5, "b": 3, "c": 2}, timeout=15, what="failback")
