"""The operator as users run it: installed by the chart onto a real node, from its image, in a
namespace enforcing the restricted Pod Security profile, logged in with its ServiceAccount token."""

from __future__ import annotations

import pytest
from sample_common.traffic import Meter

from tests.e2e.conftest import RELEASE, pod_ips
from tests.support import kube
from tests.support.ms import sample_manifest, wait_converged

pytestmark = pytest.mark.cluster
SELECTOR = f"app.kubernetes.io/instance={RELEASE}"


def test_the_chart_runs_the_operator_on_a_real_node_under_restricted(chart_operator: str, meter: Meter) -> None:
    ns = kube.core().read_namespace(chart_operator)
    assert ns.metadata.labels["pod-security.kubernetes.io/enforce"] == "restricted"
    (pod,) = kube.core().list_namespaced_pod(chart_operator, label_selector=SELECTOR).items
    assert pod.status.phase == "Running"
    assert "type" not in (kube.core().read_node(pod.spec.node_name).metadata.labels or {})  # not a kwok node
    assert pod.spec.service_account_name == f"{RELEASE}"
    (status,) = pod.status.container_statuses
    assert status.ready and status.restart_count == 0
    assert pod.spec.security_context.run_as_non_root and status.image.endswith("microservice-operator:0.1.0")

    (ip,) = pod_ips(chart_operator, SELECTOR)
    code, body = meter.call("GET", f"http://{ip}:8080/healthz")
    assert code == 200, body
    code, body = meter.call("GET", f"http://{ip}:9090/metrics")
    assert code == 200 and "microservice_reconcile_duration_seconds" in str(body)


def test_the_operator_logs_in_with_its_service_account_token_and_reconciles(chart_operator: str,
                                                                           real_namespace: str) -> None:
    kube.apply_obj(sample_manifest(real_namespace, "hello", [("v1", 100)], replicas=1))
    wait_converged(real_namespace, "hello", timeout=120)
    (pod,) = kube.core().list_namespaced_pod(chart_operator, label_selector=SELECTOR).items
    container = pod.spec.containers[0]
    assert not any(e.name == "KUBECONFIG" for e in container.env or [])
    assert any(m.mount_path == "/var/run/secrets/kubernetes.io/serviceaccount" for m in container.volume_mounts)
    logs = kube.kubectl("logs", "-n", chart_operator, pod.metadata.name).stdout
    assert "Initial authentication has finished" in logs
    assert "Traceback" not in logs and "Forbidden" not in logs and "CERTIFICATE_VERIFY_FAILED" not in logs
    if kube.LOCAL:  # the API server's audit log names the caller
        audit = kube.STATE / "kwok" / "clusters" / "microservice-operator" / "logs" / "audit.log"
        user = f'"username":"system:serviceaccount:{chart_operator}:{RELEASE}"'
        lines = audit.read_text().splitlines()
        assert any(user in line and "microservices" in line for line in lines)
        agent = f' ({pod.metadata.name})"'  # the pod names itself in its User-Agent (POD_NAME, downward API)
        assert any(user in line and '"userAgent":"microservice-operator/' in line and agent in line for line in lines)
