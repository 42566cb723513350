"""The local cluster's real node: its credentials, its DNS, where pods land, and traffic that stays here."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from sample_common.traffic import HostMeter, PodMeter

from tests.conftest import make_namespace
from tests.support import kube
from tests.support.kube import wait_for

pytestmark = [pytest.mark.cluster]
local_cluster = pytest.mark.local_cluster
NODE_ENV = dict(line.split("=", 1) for line in (kube.ROOT / "hack" / "cluster" / "node" / "node.env").read_text()
                .splitlines() if line and not line.startswith("#"))
NODE = NODE_ENV["NODE_NAME"]
KUBELET_KUBECONFIG = kube.STATE / "node" / "kubelet.kubeconfig"


def _as_kubelet(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(kube.KUBECTL), "--kubeconfig", str(KUBELET_KUBECONFIG), *args],
                          capture_output=True, text=True, timeout=60, check=False)


@local_cluster
def test_the_kubelet_is_a_node_with_its_own_restricted_credentials(cluster: Path) -> None:
    whoami = json.loads(_as_kubelet("auth", "whoami", "-o", "json").stdout)["status"]["userInfo"]
    assert whoami["username"] == f"system:node:{NODE}" and "system:nodes" in whoami["groups"]
    node = kube.core().read_node(NODE)
    assert node.status.node_info.container_runtime_version.startswith("containerd://")
    assert any(c.type == "Ready" and c.status == "True" for c in node.status.conditions)
    kwok_node = kube.core().list_node(label_selector="type=kwok").items[0].metadata.name
    # Node authorizer and NodeRestriction: a kubelet changes its own node only, and not every label.
    denied = _as_kubelet("label", "node", kwok_node, "stolen=yes")
    assert denied.returncode != 0 and "forbidden" in denied.stderr.lower()
    denied = _as_kubelet("label", "node", NODE, "node-restriction.kubernetes.io/stolen=yes")
    assert denied.returncode != 0 and "forbidden" in denied.stderr.lower()
    assert _as_kubelet("get", "secrets", "-A").returncode != 0


@local_cluster
def test_pods_go_to_the_real_node_unless_the_namespace_asks_for_kwok(cluster: Path, real_namespace: str,
                                                                      request: pytest.FixtureRequest) -> None:
    kwok_ns = make_namespace(request, annotation=kube.KWOK_NAMESPACE_ANNOTATION)
    try:
        for ns in (real_namespace, kwok_ns):
            kube.kubectl("run", "probe", "-n", ns, "--image=example/never-pulled:1", "--restart=Never",
                         "--overrides", json.dumps({"spec": {"securityContext": {
                             "runAsNonRoot": True, "runAsUser": 65532, "seccompProfile": {"type": "RuntimeDefault"}},
                             "containers": [{"name": "probe", "image": "example/never-pulled:1",
                                             "securityContext": {"allowPrivilegeEscalation": False,
                                                                 "capabilities": {"drop": ["ALL"]}}}]}}))
        node_of = {ns: wait_for(lambda ns=ns: kube.core().read_namespaced_pod("probe", ns).spec.node_name,
                                what=f"the pod in {ns} to be scheduled") for ns in (real_namespace, kwok_ns)}
    finally:
        kube.kubectl("delete", "namespace", kwok_ns, "--wait=false", check=False)
    assert node_of[real_namespace] == NODE
    assert kube.core().read_node(node_of[kwok_ns]).metadata.labels["type"] == "kwok"


def test_a_pod_reaches_the_api_by_service_ip_with_verified_tls_and_resolves_cluster_names(
        pod_meter: PodMeter) -> None:
    script = (
        "import os, socket, ssl, urllib.request\n"
        "sa = '/var/run/secrets/kubernetes.io/serviceaccount'\n"
        "ctx = ssl.create_default_context(cafile=sa + '/ca.crt')\n"
        "env = os.environ\n"
        "url = 'https://%s:%s/version' % (env['KUBERNETES_SERVICE_HOST'], env['KUBERNETES_SERVICE_PORT'])\n"
        "req = urllib.request.Request(url, headers={'Authorization': 'Bearer ' + open(sa + '/token').read()})\n"
        "print(env['KUBERNETES_SERVICE_HOST'], urllib.request.urlopen(req, context=ctx).status)\n"
        "print(socket.gethostbyname('kubernetes.default.svc.cluster.local'))\n"
    )
    host, status, resolved = pod_meter.exec("python", "-c", script).split()
    kubernetes_ip = kube.core().read_namespaced_service("kubernetes", "default").spec.cluster_ip
    assert (host, status, resolved) == (kubernetes_ip, "200", kubernetes_ip)


def _proxied_endpoints(service: str) -> int:
    """How many endpoints kube-proxy's iptables rules send ``namespace/name``'s ClusterIP to."""
    rules = subprocess.run(["iptables-save", "-t", "nat"], capture_output=True, text=True, check=True).stdout
    return sum(1 for line in rules.splitlines()
               if line.startswith("-A KUBE-SVC-") and f'--comment "{service} -> ' in line)


@local_cluster
def test_a_kwok_backed_service_fails_at_once_from_the_host_and_from_a_pod(namespace: str,
                                                                          pod_meter: PodMeter) -> None:
    """kwok's pod IPs are fake: a request to them must fail at once and never leave this machine."""
    kube.apply_obj({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "fake", "namespace": namespace},
                    "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "fake"}},
                             "template": {"metadata": {"labels": {"app": "fake"}}, "spec": {"containers": [
                                 {"name": "fake", "image": "example/fake:1", "ports": [{"containerPort": 8080}]}]}}}})
    kube.kubectl("expose", "deployment", "fake", "-n", namespace, "--port=80", "--target-port=8080")
    wait_for(lambda: kube.apps().read_namespaced_deployment("fake", namespace).status.ready_replicas == 2,
             what="2 kwok pods ready")
    cluster_ip = kube.core().read_namespaced_service("fake", namespace).spec.cluster_ip
    wait_for(lambda: _proxied_endpoints(f"{namespace}/fake") == 2, what="kube-proxy to program both kwok endpoints")
    from_host = HostMeter().measure(f"http://{cluster_ip}/", count=20, timeout=5)
    from_pod = pod_meter.measure(f"http://fake.{namespace}.svc.cluster.local/", count=20, timeout=5)
    for source, tally in (("host", from_host), ("pod", from_pod)):
        assert tally.ok == 0 and tally.failed == 20, f"from the {source}: {tally.summary()}"
        assert set(tally.errors) == {"refused"}, f"from the {source}: {tally.summary()}"  # refused at once
