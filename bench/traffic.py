"""P6 and P7 on the real node, with real requests (the project's traffic meter, from the host).

P6: split accuracy, |measured share − status effectiveWeight| in points over N requests.
P7: end-to-end failover, the primary's pods made unready by the fault switch → 99 % of the
requests served by the warm standby; the failed requests meanwhile; next to the settings that
bound it (the readiness probe's period × failure threshold, and unhealthyAfterSeconds).
"""

from __future__ import annotations

import time
from typing import Any

from sample_common.traffic import HostMeter, Load, compare, settle

from tests.support import images, kube
from tests.support.kube import wait_for
from tests.support.ms import MS_LABEL, sample_manifest, track_selector, wait_converged

PROBE_PERIOD_SECONDS = 5  # the operator's readiness probe: periodSeconds 5, failureThreshold 3
PROBE_FAILURE_THRESHOLD = 3
UNHEALTHY_AFTER_SECONDS = 3


def real_namespace(prefix: str) -> str:
    """A restricted namespace whose pods run on the real node, with the images loaded there."""
    images.build()
    images.load_into_real_node()
    name = f"{prefix}-real"
    kube.kubectl("create", "namespace", name)
    kube.kubectl("label", "namespace", name, "pod-security.kubernetes.io/enforce=restricted")
    return name


def _url(namespace: str, service: str) -> str:
    spec = kube.core().read_namespaced_service(service, namespace).spec
    return f"http://{spec.cluster_ip}:{spec.ports[0].port}/healthz"


def p6_split(namespace: str, requests: int) -> dict[str, Any]:
    """90/10 over 10 replicas: the measured share of each track against its effective weight."""
    kube.apply_obj(sample_manifest(namespace, "p6", [("v1", 90), ("v2", 10)], replicas=10))
    wait_converged(namespace, "p6", timeout=180)
    kube.wait_pods_ready(namespace, f"{MS_LABEL}=p6", 10)
    meter, url = HostMeter(), _url(namespace, "p6")
    settle(meter, url, kube.ready_pod_names(namespace, f"{MS_LABEL}=p6"))
    started = time.monotonic()
    tally = meter.measure(url, count=requests, concurrency=8)
    elapsed = time.monotonic() - started
    shares = compare(tally, kube.get_ms(namespace, "p6")["status"])
    return {"requests": tally.sent, "failed": tally.failed,
            "shares": {s.name: {"measured": round(s.measured, 2), "effective": s.effective} for s in shares},
            "max_abs_delta_points": max(abs(s.delta) for s in shares),
            "requests_per_second": round(tally.sent / elapsed, 1)}


def p7_failover(namespace: str, trials: int) -> dict[str, Any]:
    """Warm standby (75/25 over 4 replicas): fault injected → 99 % served by the standby."""
    meter, seconds, failed, sent = HostMeter(), [], 0, 0
    for i in range(trials):
        name = f"p7-{i}"
        kube.apply_obj(sample_manifest(namespace, name, [("primary", 75), ("standby", 25)], replicas=4, failover={
            "policy": "ActiveStandby", "primary": "primary", "standby": "standby",
            "unhealthyAfterSeconds": UNHEALTHY_AFTER_SECONDS, "failbackAfterSeconds": 5}))
        wait_converged(namespace, name, timeout=180)
        kube.wait_pods_ready(namespace, f"{MS_LABEL}={name}", 4)
        settle(meter, _url(namespace, name), kube.ready_pod_names(namespace, f"{MS_LABEL}={name}"))
        with Load(meter, _url(namespace, name)) as load:
            fault_at = time.time()
            for pod in kube.core().list_namespaced_pod(namespace, label_selector=track_selector(name, "primary")).items:
                meter.call("POST", f"http://{pod.status.pod_ip}:8080/fault/unready")
            moved_at = wait_for(lambda ld=load, t=fault_at: ld.first_time(t, "standby", 99), timeout=120,
                                what="99 % of the requests served by the standby")
        during = load.between(fault_at, moved_at)
        seconds.append(moved_at - fault_at)
        failed, sent = failed + during.failed, sent + during.sent
    return {"trials": trials, "seconds": seconds, "failed": failed, "sent": sent,
            "probe_period_seconds": PROBE_PERIOD_SECONDS, "probe_failure_threshold": PROBE_FAILURE_THRESHOLD,
            "unhealthy_after_seconds": UNHEALTHY_AFTER_SECONDS,
            "probe_bound_seconds": probe_bound_seconds()}


def probe_bound_seconds() -> int:
    """The slowest the settings allow: the fault lands just after a passing probe, so the pod is
    unready failureThreshold periods later, and the operator waits unhealthyAfterSeconds more."""
    return PROBE_PERIOD_SECONDS * PROBE_FAILURE_THRESHOLD + UNHEALTHY_AFTER_SECONDS
