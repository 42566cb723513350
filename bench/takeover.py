"""P9: two operator replicas with leader election; the leader is killed with ``kill -9`` mid-burst.

Measured: from the kill to the standby's first write (the takeover; the Lease's bound is its duration
plus one retry period), and from the kill to every object converged.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from microservice_operator.leader import Timing

from tests.support import audit, kube
from tests.support.replicas import NAMES, converged, holder, replica


def _burst(namespace: str, count: int) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "microservice-operator.io/v1alpha1", "kind": "Microservice",
         "metadata": {"name": f"ms-{i:04d}", "namespace": namespace},
         "spec": {"replicas": 1, "tracks": [{"name": "v1", "image": "bench/app:1", "weight": 100}]}}
        for i in range(count)]}


def p9_takeover(namespace: str, count: int) -> dict[str, Any]:
    """Runs in ``namespace`` (made by the caller) with no other operator running."""
    replicas = {name: replica(name, namespace, "operator-bench", MSO_LOG_LEVEL="WARNING") for name in NAMES}
    try:
        for proc in replicas.values():
            proc.start()
        leader = kube.wait_for(lambda: holder(namespace) or None, what="a Lease holder")
        standby = next(n for n in replicas if n != leader)
        since = audit.offset()
        creating = threading.Thread(target=kube.kubectl, args=("apply", "-f", "-"),
                                    kwargs={"stdin": json.dumps(_burst(namespace, count))})
        creating.start()
        kube.wait_for(lambda: converged(namespace) >= max(1, count // 4), timeout=300, what="a quarter converged")
        replicas[leader].kill()
        killed = time.time()
        creating.join()
        kube.wait_for(lambda: converged(namespace) == count, timeout=600, interval=1.0, what="all converged")
        converged_after = time.time() - killed
        writes = audit.operator_writes(namespace, since)
        first = min(t for t, who in writes if who == standby).timestamp()
        overlap = sum(1 for t, who in writes if who == leader and t.timestamp() >= first)
    finally:
        for proc in replicas.values():
            proc.stop()
    timing = Timing()
    return {"objects": count, "takeover_seconds": first - killed, "converged_after_kill_seconds": converged_after,
            "lease_bound_seconds": timing.duration + timing.retry, "writes_by_old_leader_after_takeover": overlap}
