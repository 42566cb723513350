"""Failover on a real node, under load: pods made unready by the samples' fault switch (a real readiness
probe failing), or crash-looping at start, and the requests measured as they move."""

from __future__ import annotations

import time

import pytest
from sample_common.traffic import Load, Meter, Tally, compare

from tests.e2e.conftest import DWELL, deploy, events, failover_status, fault, ms_status, serving_url
from tests.support import kube
from tests.support.kube import wait_for
from tests.support.ms import MS_LABEL, effective_weights, sample_manifest, track_selector, wait_converged

pytestmark = pytest.mark.cluster
SHARE_REQUESTS, SHARE_TOLERANCE = 4000, 3.0  # effectiveWeight against the measured share, in points
MAX_FAILED_SHARE = 0.05  # of the requests sent during a move; making it zero is the safe-shifts issue's
def _report(what: str, tally: Tally) -> None:
    print(f"{what}: {tally.summary()}")
    assert tally.sent > 0
    assert tally.failed <= MAX_FAILED_SHARE * tally.sent, f"{what}: {tally.failed} of {tally.sent} failed"


def test_active_standby_moves_the_requests_to_a_warm_standby_and_back(chart_operator: str, real_namespace: str,
                                                                       meter: Meter) -> None:
    ns = real_namespace
    url = deploy(meter, ns, "pay", [("primary", 75), ("standby", 25)], replicas=4,
                  failover={"policy": "ActiveStandby", "primary": "primary", "standby": "standby"})
    with Load(meter, url) as load:
        fault_at = time.time()
        assert fault(meter, ns, "pay", "primary", "unready") == 3
        wait_for(lambda: failover_status(ns, "pay").get("active"), timeout=90, what="failover")
        moved_at = wait_for(lambda: load.first_time(fault_at, "standby", 100), timeout=60,
                            what="every request served by the standby")
        after = meter.measure(url, count=2000)
        assert after.served == {"standby": 2000}, after.summary()
        failover = failover_status(ns, "pay")
        assert failover["activeTrack"] == "standby" and failover["reason"]
        assert any(e["type"] == "Warning" and e["reason"] == "FailedOver" for e in events(ns, "pay"))
        assert effective_weights(ns, "pay")["standby"] == 100
        _report(f"failover ({moved_at - fault_at:.1f} s to 100 % standby)", load.between(fault_at, moved_at))

        back_at = time.time()
        fault(meter, ns, "pay", "primary", "ready")
        wait_for(lambda: not failover_status(ns, "pay").get("active"), timeout=90, what="failback")
        wait_converged(ns, "pay", timeout=90)
        kube.wait_pods_ready(ns, f"{MS_LABEL}=pay", 4, settled=True)
        settled_at = time.time()
    assert any(e["type"] == "Normal" and e["reason"] == "FailedBack" for e in events(ns, "pay"))
    _report(f"failback ({settled_at - back_at:.1f} s)", load.between(back_at, settled_at))
    back = meter.measure(url, count=SHARE_REQUESTS)
    shares = compare(back, ms_status(ns, "pay"))
    assert back.failed == 0 and all(abs(s.delta) <= SHARE_TOLERANCE for s in shares), shares


def test_redistribute_moves_an_unready_tracks_share_to_the_others(chart_operator: str, real_namespace: str,
                                                                  meter: Meter) -> None:
    ns = real_namespace
    url = deploy(meter, ns, "web", [("a", 50), ("b", 30), ("c", 20)], replicas=10,
                  failover={"policy": "Redistribute"})
    with Load(meter, url) as load:
        fault_at = time.time()
        assert fault(meter, ns, "web", "c", "unready") == 2
        wait_for(lambda: failover_status(ns, "web").get("failedTracks") == ["c"], timeout=90, what="c failed")
        wait_for(lambda: effective_weights(ns, "web")["c"] == 0, timeout=60, what="c's effective weight 0")
        wait_converged_failed_over(ns, "web")
        moved_at = time.time()
    _report("redistribute", load.between(fault_at, moved_at))
    after = meter.measure(url, count=SHARE_REQUESTS)
    shares = compare(after, ms_status(ns, "web"))
    assert after.failed == 0 and after.served["c"] == 0, after.summary()
    assert all(abs(s.delta) <= SHARE_TOLERANCE for s in shares), shares


def wait_converged_failed_over(namespace: str, name: str) -> None:
    """Until the status describes the generation, every desired pod is ready, and traffic is failed over."""
    def done() -> bool:
        obj = kube.get_ms(namespace, name)
        status = obj.get("status") or {}
        tracks = status.get("tracks") or []
        return (status.get("observedGeneration") == obj["metadata"]["generation"]
                and (status.get("failover") or {}).get("active") is True
                and all(t["readyReplicas"] == t["replicas"] for t in tracks if t["routingWeight"] > 0))

    wait_for(done, timeout=120, interval=0.5, what=f"{namespace}/{name} failed over with its pods ready")


def test_a_track_that_crashes_at_start_gets_no_weight_and_no_request(chart_operator: str, real_namespace: str,
                                                                     meter: Meter) -> None:
    ns = real_namespace
    kube.apply_obj(sample_manifest(ns, "rel", [("good", 80), ("bad", 20)], replicas=5,
                                   track_env={"bad": {"FAULT_START": "crash"}},
                                   failover={"policy": "Redistribute", **DWELL}))
    wait_for(lambda: effective_weights(ns, "rel").get("bad") == 0 and failover_status(ns, "rel").get("active"),
             timeout=120, what="the bad track failed with effective weight 0")
    wait_converged_failed_over(ns, "rel")

    def crashed() -> bool:
        pods = kube.core().list_namespaced_pod(ns, label_selector=track_selector("rel", "bad")).items
        states = [p.status.container_statuses[0] for p in pods if p.status.container_statuses]
        return bool(states) and all(s.restart_count >= 1 and not s.ready for s in states) and all(
            (s.last_state.terminated and s.last_state.terminated.exit_code == 1) for s in states)

    wait_for(crashed, timeout=120, interval=1, what="the bad pods to crash-loop with exit status 1")
    bad = next(t for t in ms_status(ns, "rel")["tracks"] if t["name"] == "bad")
    assert bad.get("reason") in {"CrashLoopBackOff", "Error"} and "pod rel-bad-" in bad.get("message", ""), bad
    tally = meter.measure(serving_url(meter, ns, "rel"), count=2000)
    assert tally.failed == 0 and set(tally.served) == {"good"}, tally.summary()
    assert effective_weights(ns, "rel") == {"good": 100, "bad": 0}
