"""Two operator replicas with --leader-elect: exactly one writes at any time; after the leader's
``kill -9`` the other takes the Lease and finishes the work."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import pytest

from tests.conftest import OperatorProcess
from tests.support import audit, kube
from tests.support.kube import wait_for
from tests.support.ms import manifest
from tests.support.replicas import NAMES, converged, holder, lease, replica

pytestmark = pytest.mark.cluster
BURST = 200


@pytest.fixture
def replicas(namespace: str, operator: OperatorProcess) -> Iterator[dict[str, OperatorProcess]]:
    operator.stop()  # only the two replicas act here; the next test's operator_alive restarts it
    started = {name: replica(name, namespace, "operator-ha") for name in NAMES}
    try:
        for proc in started.values():
            proc.start()
        yield started
    finally:
        for proc in started.values():
            proc.stop()


def _assert_no_orphans_or_duplicates(namespace: str) -> None:
    """Every Microservice has exactly its children, each owned by it alone: nothing made twice, nothing left."""
    uids = {ms["metadata"]["name"]: ms["metadata"]["uid"] for ms in
            json.loads(kube.kubectl("get", "ms", "-n", namespace, "-o", "json").stdout)["items"]}
    for kind, expected in (("deployments", lambda n: f"{n}-v1"), ("services", None)):
        items = json.loads(kube.kubectl("get", kind, "-n", namespace, "-o", "json").stdout)["items"]
        names = sorted(i["metadata"]["name"] for i in items)
        assert len(names) == len(set(names))
        want = sorted(expected(n) for n in uids) if expected else sorted([*uids, *(f"{n}-v1" for n in uids)])
        assert names == want, f"{kind}: {len(names)} found, {len(want)} expected"
        for item in items:
            refs = item["metadata"].get("ownerReferences") or []
            owner = item["metadata"]["labels"]["microservice-operator.io/microservice"]
            assert [(r["uid"], r.get("controller")) for r in refs] == [(uids[owner], True)], item["metadata"]["name"]
    pods = json.loads(kube.kubectl("get", "pods", "-n", namespace, "-o", "json").stdout)["items"]
    assert len([p for p in pods if not p["metadata"].get("deletionTimestamp")]) == len(uids)  # 1 replica each


def test_one_replica_writes_and_the_other_takes_over_after_kill_9(
        namespace: str, replicas: dict[str, OperatorProcess]) -> None:
    leader = wait_for(lambda: holder(namespace) or None, what="a Lease holder")
    standby = next(name for name in replicas if name != leader)
    since = audit.offset()
    burst = {"apiVersion": "v1", "kind": "List", "items": [
        manifest(namespace, name=f"ms-{i:03d}", replicas=1, tracks=[("v1", 100)]) for i in range(BURST)]}
    creating = threading.Thread(target=kube.kubectl, args=("apply", "-f", "-"),
                                kwargs={"stdin": json.dumps(burst)})
    creating.start()
    wait_for(lambda: converged(namespace) >= BURST // 4, timeout=120, what="a quarter of the burst converged")
    replicas[leader].kill()  # kill -9, mid-burst
    killed_at = time.time()
    creating.join()
    wait_for(lambda: converged(namespace) == BURST, timeout=240, interval=1.0, what=f"all {BURST} converged")
    assert holder(namespace) == standby
    _assert_no_orphans_or_duplicates(namespace)
    assert int(lease(namespace)["leaseTransitions"]) >= 1
    writes = audit.operator_writes(namespace, since)
    by_leader = [t for t, who in writes if who == leader]
    by_standby = [t for t, who in writes if who == standby]
    assert by_leader and by_standby, "both replicas were expected to write, one after the other"
    assert max(by_leader) < min(by_standby), "the standby wrote while the leader still did"
    assert {who for _, who in writes} == {leader, standby}
    takeover = min(by_standby).timestamp() - killed_at
    print(f"\ntakeover: {takeover:.1f} s from kill -9 to the standby's first write; "
          f"{len(by_leader)} writes by the leader, {len(by_standby)} by the standby")


def test_a_replica_that_stops_gives_the_lease_up(namespace: str, replicas: dict[str, OperatorProcess]) -> None:
    leader = wait_for(lambda: holder(namespace) or None, what="a Lease holder")
    standby = next(name for name in replicas if name != leader)
    replicas[leader].stop()  # SIGTERM: kopf's cleanup gives the Lease up
    wait_for(lambda: holder(namespace) == standby, timeout=15, what="the standby to take the Lease")
    kube.apply_obj(manifest(namespace))
    wait_for(lambda: converged(namespace) == 1, what="the new leader to reconcile")
