"""A Microservice's life on the real node, with requests flowing: pods slower to start than the failover
dwell, a scale-up, a stalled rollout of a track, a track removed, and a pod template that brings a
Secret, volumes, a startupProbe and a user ID. Whatever happens is read from watches, not samples."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from sample_common.traffic import Load, Meter

from tests.e2e.conftest import DWELL, WatchThread, deploy, events, ms_status, serving_url
from tests.support import kube
from tests.support.kube import GROUP, PLURAL, VERSION, wait_for
from tests.support.ms import MS_LABEL, sample_manifest, track_selector, wait_converged

pytestmark = pytest.mark.cluster
SLOW_START_SECONDS = 15  # longer than DWELL's unhealthyAfterSeconds (3 s), well within the startup budget


class StatusWatch(WatchThread):
    """Every status of one Microservice, from a watch: each failover and Degraded=True it ever showed."""

    def __init__(self, namespace: str, name: str) -> None:
        super().__init__()
        self.namespace, self.name = namespace, name
        self.failed_over: list[dict[str, Any]] = []
        self.degraded: list[dict[str, Any]] = []

    def _listing(self) -> tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]:
        return (kube.custom().list_namespaced_custom_object, (GROUP, VERSION, self.namespace, PLURAL),
                {"field_selector": f"metadata.name={self.name}"})

    def _on(self, event: dict[str, Any]) -> None:
        status = event["object"].get("status") or {}
        if (status.get("failover") or {}).get("active") or (status.get("failover") or {}).get("failedTracks"):
            self.failed_over.append(status["failover"])
        self.degraded += [c for c in status.get("conditions") or []
                          if c["type"] == "Degraded" and c["status"] == "True"]


def _seconds_to_ready(namespace: str, selector: str) -> list[float]:
    """For each ready pod: seconds from its app container's start to its Ready condition."""
    out = []
    for pod in kube.core().list_namespaced_pod(namespace, label_selector=selector).items:
        ready = next(c for c in pod.status.conditions if c.type == "Ready")
        started = pod.status.container_statuses[0].state.running.started_at
        out.append((ready.last_transition_time - started).total_seconds())
    return out


def test_pods_slower_to_start_than_the_dwell_and_a_scale_up_neither_fail_over_nor_degrade(
        chart_operator: str, real_namespace: str, meter: Meter) -> None:
    ns, slow = real_namespace, {"FAULT_START": f"slow:{SLOW_START_SECONDS}"}
    manifest = sample_manifest(ns, "slow", [("a", 50), ("b", 50)], replicas=2, track_env={"a": slow, "b": slow},
                               failover={"policy": "Redistribute", **DWELL})
    with StatusWatch(ns, "slow").running() as seen:
        kube.apply_obj(manifest)
        wait_converged(ns, "slow", timeout=180)
        with Load(meter, serving_url(meter, ns, "slow")) as load:
            scaled_at = time.time()
            kube.kubectl("scale", "ms/slow", "-n", ns, "--replicas=6")
            wait_for(lambda: ms_status(ns, "slow").get("replicas") == 6, timeout=60, what="6 pods")
            wait_converged(ns, "slow", timeout=180)
            kube.wait_pods_ready(ns, f"{MS_LABEL}=slow", 6, timeout=180)
            scaled = load.between(scaled_at, time.time())
    print(f"scale 2 -> 6 with {SLOW_START_SECONDS} s starts: {scaled.summary()}")
    assert min(_seconds_to_ready(ns, f"{MS_LABEL}=slow")) >= SLOW_START_SECONDS - 1  # they were slow
    assert seen.failed_over == [] and seen.degraded == [], (seen.failed_over, seen.degraded)
    assert scaled.failed == 0 and scaled.sent > 0, scaled.summary()


def test_a_stalled_rollout_is_degraded_with_the_deployments_reason_and_loses_no_request(
        chart_operator: str, real_namespace: str, meter: Meter) -> None:
    ns = real_namespace
    url = deploy(meter, ns, "upd", [("a", 50), ("b", 50)], replicas=4, timeout=180,
                 failover={"policy": "Redistribute"}, progressDeadlineSeconds=15)

    def stalled() -> dict[str, Any] | None:
        degraded = next((c for c in ms_status(ns, "upd").get("conditions") or [] if c["type"] == "Degraded"), {})
        return degraded if degraded.get("reason") == "ProgressDeadlineExceeded" else None

    with StatusWatch(ns, "upd").running() as seen, Load(meter, url) as load:
        updated_at = time.time()
        kube.kubectl("patch", "ms", "upd", "-n", ns, "--type=json", "-p", json.dumps([
            {"op": "add", "path": "/spec/tracks/1/env/-", "value": {"name": "FAULT_START", "value": "crash"}}]))
        degraded = wait_for(stalled, timeout=180, interval=1, what="Degraded=True ProgressDeadlineExceeded")
        during = load.between(updated_at, time.time())
    print(f"stalled rollout of b: {during.summary()}; {degraded['message']}")
    track = next(t for t in ms_status(ns, "upd")["tracks"] if t["name"] == "b")
    assert degraded["status"] == "True" and "upd-b" in degraded["message"], degraded
    assert track["reason"] == "ProgressDeadlineExceeded" and track["readyReplicas"] == 2, track
    assert seen.failed_over == [], seen.failed_over  # b's old pods are all ready: no reason to fail over
    assert during.failed == 0 and during.served["b"] > 0, during.summary()  # b's old pods kept serving


def test_a_removed_track_is_drained_before_it_is_deleted_and_fails_no_request(
        chart_operator: str, real_namespace: str, meter: Meter) -> None:
    ns = real_namespace
    url = deploy(meter, ns, "rm", [("a", 50), ("b", 50)], replicas=4, timeout=180)
    with Load(meter, url) as load:
        removed_at = time.time()
        kube.kubectl("patch", "ms", "rm", "-n", ns, "--type=json", "-p", json.dumps([
            {"op": "remove", "path": "/spec/tracks/1"},
            {"op": "replace", "path": "/spec/tracks/0/weight", "value": 100}]))
        wait_for(lambda: kube.kubectl("get", "deployment", "rm-b", "-n", ns, check=False).returncode != 0,
                 timeout=180, interval=1, what="Deployment rm-b deleted")
        wait_converged(ns, "rm", timeout=120)
        kube.wait_pods_ready(ns, f"{MS_LABEL}=rm", 4, timeout=120, settled=True)
        tally = load.between(removed_at, time.time())
    print(f"track b removed: {tally.summary()}")
    assert tally.failed == 0 and tally.served["b"] > 0, tally.summary()  # b served until a's pods were ready
    assert kube.kubectl("get", "service", "rm-b", "-n", ns, check=False).returncode != 0
    reasons = [e["reason"] for e in events(ns, "rm")]
    assert "Draining" in reasons and "Deleted" in reasons, reasons


PROBE_IN_POD = """
import json, os, pathlib
pathlib.Path("/scratch/written").write_text("ok")
print(json.dumps({"uid": os.getuid(), "gid": os.getgid(), "password": os.environ.get("DB_PASSWORD"),
                  "greeting": pathlib.Path("/etc/greeting/greeting.txt").read_text(),
                  "scratch": pathlib.Path("/scratch/written").read_text()}))
"""


def test_a_template_with_a_secret_volumes_a_startup_probe_and_a_user_id_runs_with_them(
        chart_operator: str, real_namespace: str, meter: Meter) -> None:
    ns = real_namespace
    kube.kubectl("create", "secret", "generic", "db", "-n", ns, "--from-literal=DB_PASSWORD=s3cret")
    kube.kubectl("create", "configmap", "greeting", "-n", ns, "--from-literal=greeting.txt=hello")
    startup = {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 2, "failureThreshold": 40}
    template = {"metadata": {"annotations": {"example.com/scrape": "true"}}, "spec": {
        "securityContext": {"runAsUser": 12345, "runAsGroup": 12345},
        "containers": [{"name": "app", "envFrom": [{"secretRef": {"name": "db"}}], "startupProbe": startup,
                        "volumeMounts": [{"name": "greeting", "mountPath": "/etc/greeting", "readOnly": True},
                                         {"name": "scratch", "mountPath": "/scratch"}]}],
        "volumes": [{"name": "greeting", "configMap": {"name": "greeting"}}, {"name": "scratch", "emptyDir": {}}]}}
    url = deploy(meter, ns, "tpl", [("a", 100)], replicas=2, timeout=180, template=template)
    pods = kube.core().list_namespaced_pod(ns, label_selector=track_selector("tpl", "a")).items
    for pod in pods:
        inside = json.loads(kube.kubectl("exec", "-n", ns, pod.metadata.name, "-c", "app", "--",
                                         "python", "-c", PROBE_IN_POD).stdout)
        assert inside == {"uid": 12345, "gid": 12345, "password": "s3cret", "greeting": "hello",
                          "scratch": "ok"}, inside
        app = next(c for c in pod.spec.containers if c.name == "app")
        assert (app.startup_probe.period_seconds, app.startup_probe.failure_threshold) == (2, 40)
        assert pod.metadata.annotations["example.com/scrape"] == "true"
        assert pod.spec.automount_service_account_token is False
    tally = meter.measure(url, count=500)
    assert tally.failed == 0 and tally.served == {"a": 500}, tally.summary()
