"""P6, P7 and P8 on the real node, with real requests (the project's traffic meter, from the host).

P6: split accuracy, |measured share − status effectiveWeight| in points over N requests.
P7: end-to-end failover, the primary's pods made unready by the fault switch → 99 % of the
requests served by the warm standby; the failed requests meanwhile; next to the settings that
bound it (the readiness probe's period × failure threshold, and unhealthyAfterSeconds).
P8: the two strategies side by side: split accuracy (|measured share − configured weight|) at 99/1 on
2 pods and 90/10 on 10 pods, and the time from a 90/10 → 50/50 edit to the new split being served;
Replicas through the Service (kube-proxy), GatewayAPI through the local Gateway (Traefik).
"""

from __future__ import annotations

import time
from typing import Any

from sample_common.traffic import HostMeter, Load, Tally, compare, settle

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


def _deploy(namespace: str, name: str, strategy: str, weights: tuple[int, int], replicas: int,
            ) -> tuple[str, dict[str, str] | None]:
    """A 2-track Microservice with ``strategy``; the URL and headers that reach it, once settled."""
    routing: dict[str, Any] = {"strategy": strategy}
    headers = None
    if strategy == "GatewayAPI":
        host = f"{name}.{namespace}.test"
        routing["gateway"] = {"parentRefs": [{"name": "local", "namespace": "gateway-system"}], "hostnames": [host]}
        headers = {"Host": host}
    kube.apply_obj(sample_manifest(namespace, name, [("v1", weights[0]), ("v2", weights[1])], replicas=replicas,
                                   routing=routing))
    wait_converged(namespace, name, timeout=180)
    kube.wait_pods_ready(namespace, f"{MS_LABEL}={name}", replicas)
    url = f"{kube.GATEWAY_URL}/healthz" if headers else _url(namespace, name)
    settle(HostMeter(), url, kube.ready_pod_names(namespace, f"{MS_LABEL}={name}"), headers=headers)
    return url, headers


def _off_by(tally: Tally, weights: tuple[int, int]) -> float:
    """The largest |measured share − configured weight| of the two tracks, in points."""
    return max(abs(100 * tally.served.get(track, 0) / tally.sent - w) for track, w in zip(("v1", "v2"), weights,
                                                                                          strict=True))


def _edit_to_split(namespace: str, name: str, url: str, headers: dict[str, str] | None) -> float:
    """Seconds from the 90/10 → 50/50 edit until a quarter-second window is served at least 45 % by v2."""
    with Load(HostMeter(), url, headers=headers) as load:
        edited_at = time.time()
        kube.kubectl("patch", "ms", name, "-n", namespace, "--type=json", "-p",
                     '[{"op":"replace","path":"/spec/tracks/0/weight","value":50},'
                     '{"op":"replace","path":"/spec/tracks/1/weight","value":50}]')
        followed = wait_for(lambda: load.first_time(edited_at, "v2", 45), timeout=120, what="the 50/50 split")
    return followed - edited_at


def p8_strategies(namespace: str, requests: int) -> dict[str, Any]:
    """Replicas and GatewayAPI side by side, one Microservice at a time."""
    out: dict[str, Any] = {"requests": requests}
    for strategy in ("Replicas", "GatewayAPI"):
        row: dict[str, Any] = {}
        for weights, replicas in (((99, 1), 2), ((90, 10), 10)):
            name = f"p8-{strategy.lower()}-{weights[1]}"
            url, headers = _deploy(namespace, name, strategy, weights, replicas)
            tally = HostMeter().measure(url, count=requests, concurrency=8, headers=headers)
            row[f"{weights[0]}/{weights[1]} on {replicas} pods"] = {
                "points_off": round(_off_by(tally, weights), 2), "failed": tally.failed,
                "v2_percent": round(100 * tally.served.get("v2", 0) / tally.sent, 2)}
            if replicas == 10:
                row["edit_to_split_seconds"] = round(_edit_to_split(namespace, name, url, headers), 2)
            kube.kubectl("delete", "ms", name, "-n", namespace, "--wait=false")
        out[strategy] = row
    return out
