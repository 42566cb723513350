"""Moves of traffic that drop no request, on the real node, under continuous load: a weight edit and
back, a failover to a warm and to a cold standby, a failback. Make before break: the track that gains
is scaled up and its pods are Ready before the other track's share is cut."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from sample_common.traffic import Load, Meter, Tally

from tests.e2e.conftest import WatchThread, deploy, failover_status, fault
from tests.support import kube
from tests.support.kube import wait_for
from tests.support.ms import MS_LABEL, wait_converged

pytestmark = pytest.mark.cluster
class ReplicaWatch(WatchThread):
    """The largest total of the Deployments' spec.replicas seen, from a watch (every change, not samples)."""

    def __init__(self, namespace: str, name: str) -> None:
        super().__init__()
        self.namespace, self.selector = namespace, f"{MS_LABEL}={name}"
        self.wanted: dict[str, int] = {}
        self.peak = 0

    def _listing(self) -> tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]:
        return kube.apps().list_namespaced_deployment, (self.namespace,), {"label_selector": self.selector}

    def _on(self, event: dict[str, Any]) -> None:
        obj = event["object"]
        self.wanted[obj.metadata.name] = 0 if event["type"] == "DELETED" else obj.spec.replicas or 0
        self.peak = max(self.peak, sum(self.wanted.values()))


def _set_weights(namespace: str, name: str, weights: tuple[int, int]) -> None:
    kube.kubectl("patch", "ms", name, "-n", namespace, "--type=json", "-p", json.dumps([
        {"op": "replace", "path": f"/spec/tracks/{i}/weight", "value": w} for i, w in enumerate(weights)]))


def _moved(load: Load, since: float, namespace: str, name: str, pods: int) -> Tally:
    """Waits until the object converged with ``pods`` settled pods; the requests sent since ``since``."""
    time.sleep(1)  # the operator sees the edit first
    wait_converged(namespace, name, timeout=180)
    kube.wait_pods_ready(namespace, f"{MS_LABEL}={name}", pods, timeout=180, settled=True)
    tally = load.between(since, time.time())
    print(f"{name}: {tally.summary()}")
    return tally


def test_a_weight_edit_and_back_drops_no_request_and_stays_within_max_surge(
        chart_operator: str, real_namespace: str, meter: Meter) -> None:
    ns, replicas = real_namespace, 20  # 18/2 at 90/10: at least 2 pods per serving track
    url = deploy(meter, ns, "shift", [("v1", 90), ("v2", 10)], replicas=replicas, timeout=180, maxSurge="25%")
    with ReplicaWatch(ns, "shift").running() as replica_watch, Load(meter, url) as load:
        edit_at = time.time()
        _set_weights(ns, "shift", (0, 100))
        forward = _moved(load, edit_at, ns, "shift", replicas)
        back_at = time.time()
        _set_weights(ns, "shift", (90, 10))
        back = _moved(load, back_at, ns, "shift", replicas)
    assert forward.failed == 0 and back.failed == 0, (forward.summary(), back.summary())
    assert forward.sent > 1000 and back.sent > 1000
    assert replica_watch.peak <= replicas + 5, replica_watch.wanted  # 25 % of 20


def test_failover_to_a_warm_standby_and_back_drops_no_request(chart_operator: str, real_namespace: str,
                                                              meter: Meter) -> None:
    ns = real_namespace
    url = deploy(meter, ns, "warm", [("primary", 50), ("standby", 50)], replicas=4, timeout=180,
                 failover={"policy": "ActiveStandby", "primary": "primary", "standby": "standby"})
    with Load(meter, url) as load:
        fault_at = time.time()
        fault(meter, ns, "warm", "primary", "unready")
        wait_for(lambda: load.first_time(fault_at, "standby", 100), timeout=90, what="100 % standby")
        failover = load.between(fault_at, time.time())
        back_at = time.time()
        fault(meter, ns, "warm", "primary", "ready")
        wait_for(lambda: not failover_status(ns, "warm").get("active"), timeout=90,
                 what="failback")
        failback = _moved(load, back_at, ns, "warm", 4)
    print(f"failover: {failover.summary()}; failback: {failback.summary()}")
    # The fault switch fails only the readiness probe: the primary's pods still answer what they get.
    assert failover.failed == 0 and failback.failed == 0, (failover.summary(), failback.summary())


def test_a_cold_standby_takes_over_only_once_ready_while_the_primarys_ready_pods_serve(
        chart_operator: str, real_namespace: str, meter: Meter) -> None:
    ns = real_namespace
    url = deploy(meter, ns, "cold", [("primary", 100), ("standby", 0)], replicas=4, timeout=180,
                 failover={"policy": "ActiveStandby", "primary": "primary", "standby": "standby"})
    reasons: set[str] = set()
    with ReplicaWatch(ns, "cold").running() as replica_watch, Load(meter, url) as load:
        fault_at = time.time()
        fault(meter, ns, "cold", "primary", "unready", count=3)  # one primary pod stays ready

        def standby_serves() -> bool:
            reasons.add(failover_status(ns, "cold").get("reason") or "")
            return load.first_time(fault_at, "standby", 100) is not None

        wait_for(standby_serves, timeout=120, interval=0.5, what="the cold standby to serve every request")
        moved = load.between(fault_at, time.time())
    print(f"cold failover: {moved.summary()}")
    assert moved.failed == 0, moved.summary()
    assert moved.served["primary"] > 0  # the last ready primary pod served while the standby started
    assert any("waiting until the standby serves" in r for r in reasons), reasons
    # beyond replicas + maxSurge, by the primary's pods (kept so that it can recover), and said so above
    assert replica_watch.peak <= 4 + 4, replica_watch.wanted
