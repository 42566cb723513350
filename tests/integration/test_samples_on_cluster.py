"""samples/manifests/ applied to the local cluster with the operator running."""

from __future__ import annotations

import pytest

from tests.conftest import OperatorProcess
from tests.support import kube
from tests.support.kube import wait_for
from tests.support.ms import owned, wait_converged

pytestmark = pytest.mark.cluster
MANIFESTS = kube.ROOT / "samples" / "manifests"


def test_sample_manifests_become_the_contracted_objects(operator_alive: OperatorProcess) -> None:
    kube.kubectl("apply", "--server-side", "-f", str(MANIFESTS / "namespace.yaml"))
    kube.kubectl("apply", "--server-side", "-f", str(MANIFESTS))
    try:
        wait_converged("shop", "user")
        wait_converged("shop", "order")
        assert owned("shop", "deployments", "user") == ["user-v1", "user-v2"]
        assert owned("shop", "services", "user") == ["user", "user-v1", "user-v2"]
        assert owned("shop", "deployments", "order") == ["order-primary", "order-standby"]
        assert owned("shop", "services", "order") == ["order", "order-primary", "order-standby"]
        for name, version in (("user-v1", "1.0.0"), ("user-v2", "2.0.0")):
            container = kube.apps().read_namespaced_deployment(name, "shop").spec.template.spec.containers[0]
            assert container.image == "microservice-operator/user-service:0.1.0"
            assert {e.name: e.value for e in container.env}["VERSION"] == version
        order = kube.apps().read_namespaced_deployment("order-primary", "shop").spec.template.spec.containers[0]
        assert {e.name: e.value for e in order.env}["USER_SERVICE_URL"] == "http://user"
        assert kube.ready_counts("shop", "user") == {"v1": 9, "v2": 1}
        assert kube.ready_counts("shop", "order") == {"primary": 4, "standby": 0}
    finally:
        kube.kubectl("delete", "namespace", "shop", "--wait=false", check=False)
        wait_for(lambda: kube.kubectl("get", "namespace", "shop", check=False).returncode != 0, timeout=60,
                 what="namespace shop to go")
