"""P1–P5: the operator against the floor (the same children server-side applied by a plain client).

The floor writes exactly the objects the operator would (the planner's own output), in its own
namespace and without the operator's label, with the same concurrency, and is timed by the same
watch-based tracker.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubernetes import client
from microservice_operator.k8s import Kube
from microservice_operator.plan import Observed, plan
from microservice_operator.resources.common import LABEL_MANAGED_BY

from tests.support import kube as kube_support

from .tracker import Tracker, deployments_ready, microservice_converged

WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection"}


def microservice(namespace: str, name: str, replicas: int, weights: tuple[int, int] = (50, 50),
                 failover: dict[str, Any] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"replicas": replicas, "tracks": [
        {"name": "a", "image": "bench/app:1", "weight": weights[0]},
        {"name": "b", "image": "bench/app:2", "weight": weights[1]}]}
    if failover:
        spec["failover"] = failover
    return {"apiVersion": "microservice-operator.io/v1alpha1", "kind": "Microservice",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def floor_children(body: dict[str, Any]) -> list[dict[str, Any]]:
    """What the operator would apply for ``body``, labelled so the operator ignores it."""
    objs = plan(body, Observed(), datetime.now(UTC)).apply
    for obj in objs:
        obj["metadata"]["labels"][LABEL_MANAGED_BY] = "bench-floor"
    return objs


def replicas_of(objs: list[dict[str, Any]]) -> dict[str, int]:
    return {o["metadata"]["name"]: o["spec"]["replicas"] for o in objs if o["kind"] == "Deployment"}


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def summary(values: list[float]) -> dict[str, float]:
    return {"p50": statistics.median(values), "p99": percentile(values, 99), "n": len(values)}


class Bench:
    """Shared clients and namespaces for one run."""

    def __init__(self, api: client.ApiClient, kube: Kube, prefix: str) -> None:
        self.api = api  # the official client, for watches and namespaces
        self.kube = kube  # the operator's own client, for the floor's applies
        self.prefix = prefix
        self.trackers: dict[str, Tracker] = {}
        self.extra_namespaces: list[str] = []  # made by others (the real-node figures), deleted with these

    def namespace(self, suffix: str) -> tuple[str, Tracker]:
        name = f"{self.prefix}-{suffix}"
        # Thousands of pods: on the kwok nodes (the namespace annotation of tests/support/kube.py).
        key, value = kube_support.KWOK_NAMESPACE_ANNOTATION.split("=", 1)
        client.CoreV1Api(self.api).create_namespace({"metadata": {"name": name, "annotations": {key: value}}})
        self.trackers[name] = Tracker(self.api, name)
        return name, self.trackers[name]

    def cleanup(self, timeout: float = 900) -> None:
        """Deletes the run's namespaces and waits until they are gone, so the cluster is quiet after."""
        core = client.CoreV1Api(self.api)
        for name, tracker in self.trackers.items():
            tracker.stop()
            core.delete_namespace(name, propagation_policy="Background")
        for name in self.extra_namespaces:
            core.delete_namespace(name, propagation_policy="Background")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            left = {ns.metadata.name for ns in core.list_namespace().items} & {*self.trackers, *self.extra_namespaces}
            if not left:
                return
            time.sleep(2)


def p1_create(bench: Bench, count: int) -> tuple[list[float], list[float], list[str]]:
    """Create → converged, one object after another: operator latencies, floor latencies, names."""
    op_ns, op = bench.namespace("p1-op")
    fl_ns, fl = bench.namespace("p1-floor")
    op_lat, fl_lat, names = [], [], []
    for i in range(count):
        name = f"p1-{i}"
        body = microservice(op_ns, name, replicas=2)
        started = time.monotonic()
        bench.kube.apply(body)
        op_lat.append(op.wait(lambda s, n=name: microservice_converged(s, n)) - started)
        objs = floor_children(microservice(fl_ns, name, replicas=2))
        started = time.monotonic()
        for obj in objs:
            bench.kube.apply(obj)
        want = replicas_of(objs)
        fl_lat.append(fl.wait(lambda s, w=want: deployments_ready(s, list(w), w)) - started)
        names.append(name)
    return op_lat, fl_lat, names


def p2_weight_edit(bench: Bench, names: list[str]) -> tuple[list[float], list[float], list[float]]:
    """A weight edit (50/50 → 90/10 of 2 replicas: 1/1 → 2/0) → the Deployments' replicas updated.

    Returns the operator's latencies, the floor's (a plain client applying the Deployments one after
    another), and a parallel floor's (applying them concurrently; it then reverts the edit).
    """
    op_ns, fl_ns = f"{bench.prefix}-p1-op", f"{bench.prefix}-p1-floor"
    op, fl = bench.trackers[op_ns], bench.trackers[fl_ns]
    op_lat, fl_lat, par_lat = [], [], []
    with ThreadPoolExecutor(2) as pool:
        for name in names:
            want = {f"{name}-a": 2, f"{name}-b": 0}
            started = time.monotonic()
            bench.kube.apply(microservice(op_ns, name, replicas=2, weights=(90, 10)))
            op_lat.append(op.wait(lambda s, w=want: _spec_replicas(s, w)) - started)
            fl_lat.append(_floor_edit(bench, fl, namespace=fl_ns, name=name, weights=(90, 10), want=want,
                                      pool=None))
            back = {f"{name}-a": 1, f"{name}-b": 1}
            par_lat.append(_floor_edit(bench, fl, namespace=fl_ns, name=name, weights=(50, 50), want=back,
                                       pool=pool))
    return op_lat, fl_lat, par_lat


def _floor_edit(bench: Bench, tracker: Tracker, *, namespace: str, name: str, weights: tuple[int, int],
                want: dict[str, int], pool: ThreadPoolExecutor | None) -> float:
    objs = [o for o in floor_children(microservice(namespace, name, replicas=2, weights=weights))
            if o["kind"] == "Deployment"]
    started = time.monotonic()
    if pool is None:
        for obj in objs:
            bench.kube.apply(obj)
    else:
        list(pool.map(bench.kube.apply, objs))
    return tracker.wait(lambda s: _spec_replicas(s, want)) - started


def _spec_replicas(state: dict[str, dict[str, dict[str, Any]]], want: dict[str, int]) -> bool:
    return all((state["deploy"].get(n) or {}).get("spec", {}).get("replicas") == r for n, r in want.items())


def _count(tracker: Tracker, done: Callable[[dict[str, dict[str, dict[str, Any]]]], int], total: int,
           timeout: float) -> float:
    """Polls (0.25 s) until ``done(state)`` reaches ``total``; the time it did."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with tracker._cond:
            if done(tracker.state) >= total:
                return time.monotonic()
        time.sleep(0.25)
    raise TimeoutError(f"only part of {total} converged in {timeout}s")


def p3_many(bench: Bench, count: int, concurrency: int) -> tuple[float, float]:
    """``count`` Microservices created at once → all converged; the same for the floor's children."""
    op_ns, op = bench.namespace("p3-op")
    fl_ns, fl = bench.namespace("p3-floor")
    bodies = [microservice(op_ns, f"p3-{i}", replicas=2) for i in range(count)]
    started = time.monotonic()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(bench.kube.apply, bodies))
    op_time = _count(op, lambda s: sum(microservice_converged(s, n) for n in s["ms"]), count, 900) - started
    objs = [o for i in range(count) for o in floor_children(microservice(fl_ns, f"p3-{i}", replicas=2))]
    want = replicas_of(objs)
    started = time.monotonic()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(bench.kube.apply, objs))
    fl_time = _count(fl, lambda s: sum(deployments_ready(s, [n], want) for n in want), len(want), 900) - started
    return op_time, fl_time


def p4_idle(audit_log: Path, pid: int, seconds: float) -> tuple[int, float, dict[str, int]]:
    """The operator's write requests (from the audit log) and CPU % while nothing changes."""
    offset = audit_log.stat().st_size
    cpu_before = _cpu_seconds(pid)
    time.sleep(seconds)
    cpu = (_cpu_seconds(pid) - cpu_before) / seconds * 100
    writes: dict[str, int] = {}
    with audit_log.open() as log:
        log.seek(offset)
        for line in log:
            event = json.loads(line)
            agent = event.get("userAgent", "")
            if event.get("verb") in WRITE_VERBS and agent.startswith(("microservice-operator", "kopf")):
                key = f"{event['verb']} {event.get('objectRef', {}).get('resource', '?')}"
                writes[key] = writes.get(key, 0) + 1
    return sum(writes.values()), cpu, writes


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def p5_failover(bench: Bench, trials: int, set_ready: Callable[[str, str, bool], int]) -> list[float]:
    """Primary made unready → status.failover.active observed, minus unhealthyAfterSeconds."""
    ns, tracker = bench.namespace("p5")
    dwell = 2
    failover = {"policy": "ActiveStandby", "primary": "a", "standby": "b", "unhealthyAfterSeconds": dwell,
                "failbackAfterSeconds": 1}
    latencies = []
    for i in range(trials):
        name = f"p5-{i}"
        bench.kube.apply(microservice(ns, name, replicas=2, weights=(90, 10), failover=failover))
        tracker.wait(lambda s, n=name: microservice_converged(s, n))
        set_ready(ns, f"microservice-operator.io/microservice={name},microservice-operator.io/track=a", False)
        unready_at = time.monotonic()
        seen = tracker.wait(lambda s, n=name: bool(((s["ms"].get(n) or {}).get("status") or {})
                                                   .get("failover", {}).get("active")), timeout=60)
        latencies.append(seen - unready_at - dwell)
    return latencies
