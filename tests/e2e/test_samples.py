"""samples/manifests/ applied as shipped, on a real node: real probes, real requests, DNS between services."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sample_common.traffic import Meter

from tests.e2e.conftest import service_url
from tests.support import kube
from tests.support.kube import wait_for
from tests.support.ms import MS_LABEL, owned, wait_converged

pytestmark = pytest.mark.cluster
MANIFESTS = kube.ROOT / "samples" / "manifests"


@pytest.fixture(scope="module")
def shop(chart_operator: str) -> Iterator[str]:
    """The shipped manifests, unchanged; namespace shop is removed afterwards."""
    kube.kubectl("apply", "--server-side", "-f", str(MANIFESTS / "namespace.yaml"))
    kube.kubectl("apply", "--server-side", "-f", str(MANIFESTS))
    try:
        for name in ("user", "order"):
            wait_converged("shop", name, timeout=180)
        yield "shop"
    finally:
        kube.kubectl("delete", "namespace", "shop", "--wait=false", check=False)
        wait_for(lambda: kube.kubectl("get", "namespace", "shop", check=False).returncode != 0, timeout=120,
                 what="namespace shop to go")


def test_every_sample_pod_runs_restricted_and_passes_its_real_probes(shop: str) -> None:
    assert kube.core().read_namespace(shop).metadata.labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert owned(shop, "deployments", "user") == ["user-v1", "user-v2"]
    assert owned(shop, "services", "order") == ["order", "order-primary", "order-standby"]
    kube.wait_pods_ready(shop, f"{MS_LABEL}=user", 10)
    kube.wait_pods_ready(shop, f"{MS_LABEL}=order", 4)
    for pod in kube.core().list_namespaced_pod(shop, label_selector=MS_LABEL).items:  # the databases' below
        if pod.metadata.deletion_timestamp:
            continue
        (status,) = pod.status.container_statuses
        assert status.ready and status.started and status.restart_count == 0, pod.metadata.name
        (container,) = pod.spec.containers
        assert container.readiness_probe.http_get.path == "/readyz"
        assert container.security_context.allow_privilege_escalation is False
    assert kube.ready_counts(shop, "user") == {"v1": 9, "v2": 1}
    assert kube.ready_counts(shop, "order") == {"primary": 4, "standby": 0}


def test_order_calls_user_by_its_service_dns_name(shop: str, meter: Meter) -> None:
    users = service_url(meter, shop, "user", "/users")
    code, user = meter.call("POST", users, body={"name": "Grace Hopper", "email": "grace@example.com",
                                                 "balance": 10_000})
    assert code == 201, user
    orders = service_url(meter, shop, "order", "/orders")
    # order-service resolves http://user through the cluster DNS, then calls it through kube-proxy.
    for _ in range(5):
        code, order = meter.call("POST", orders, body={"userId": user["id"], "item": "compiler"})
        assert code == 201 and order["userId"] == user["id"] and order["status"] == "CONFIRMED", order
    code, refused = meter.call("POST", orders, body={"userId": 987654, "item": "compiler"})
    assert code == 422 and refused["status"] == "REJECTED" and refused["reason"] == "no such user", refused
    code, after = meter.call("GET", f"{users}/{user['id']}")
    assert code == 200 and after["balance"] == 10_000 - 5 * 100, after


def test_every_replica_of_both_tracks_reads_what_another_wrote(shop: str, meter: Meter) -> None:
    """GET after POST through the Service: 10 replicas on two tracks share user-db, so whichever pod
    answers the GET finds the user another pod created (the in-memory stores of before could not)."""
    users = service_url(meter, shop, "user", "/users")
    for n in range(60):
        code, user = meter.call("POST", users, body={"name": f"User {n}", "email": f"u{n}@example.com",
                                                     "balance": n})
        assert code == 201, user
        for _ in range(3):
            code, got = meter.call("GET", f"{users}/{user['id']}")
            assert code == 200 and got == user, (user, got)
    reads = meter.measure(f"{users}/{user['id']}", 300)  # the last user, read by whichever pod answers
    assert reads.statuses == {200: 300}, reads.summary()
    assert set(reads.served) == {"v1", "v2"} and len(reads.pods) >= 5, reads.summary()


def test_each_service_runs_on_its_own_postgresql_with_a_provisioned_volume(shop: str) -> None:
    for db, owner in (("user-db", "users"), ("order-db", "orders")):
        kube.wait_pods_ready(shop, f"app.kubernetes.io/name={db}", 1)
        claim = kube.core().read_namespaced_persistent_volume_claim(f"data-{db}-0", shop)
        assert claim.status.phase == "Bound" and claim.spec.storage_class_name == "standard"
        pod = kube.core().read_namespaced_pod(f"{db}-0", shop)
        assert pod.spec.security_context.run_as_user == 999 and pod.spec.security_context.run_as_non_root
        tables = kube.kubectl("exec", "-n", shop, f"{db}-0", "--", "psql", "-U", owner, "-d", owner, "-At", "-c",
                              "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1").stdout
        assert tables.split() == (["debits", "users"] if owner == "users" else ["orders"])
