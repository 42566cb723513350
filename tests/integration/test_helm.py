"""The Helm chart on the local cluster: lint, dry-run, install/upgrade/uninstall, and its RBAC."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import OperatorProcess
from tests.support import kube
from tests.support.images import run
from tests.support.kube import set_pods_ready, wait_for
from tests.support.ms import manifest, owned, replicas_by_track, wait_converged

pytestmark = pytest.mark.cluster
CHART = str(kube.ROOT / "charts" / "microservice-operator")
HELM = str(kube.STATE / "bin" / "helm")
KUBE_VERSION = "v1.35.4"


def helm(*args: str, check: bool = True) -> str:
    return run(HELM, "--kubeconfig", str(kube.KUBECONFIG), *args, check=check, timeout=300).stdout


def render(*values: str) -> list[dict[str, Any]]:
    """The chart's manifests from `helm template` (no cluster needed), with ``values`` (--set ...)."""
    out = helm("template", "mso", CHART, "--namespace", "mso-system", "--kube-version", KUBE_VERSION, *values)
    return [doc for doc in yaml.safe_load_all(out) if doc]


def rendered(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc["kind"] == kind]


def pod_spec(*values: str) -> dict[str, Any]:
    (deployment,) = rendered(render(*values), "Deployment")
    spec: dict[str, Any] = deployment["spec"]["template"]["spec"]
    return spec


PDB_ON = ("--set", "podDisruptionBudget.enabled=true")


def test_helm_lint_is_clean() -> None:
    out = helm("lint", CHART, "--strict")
    assert "[WARNING]" not in out and "[ERROR]" not in out and "0 chart(s) failed" in out


@pytest.mark.parametrize("values", [
    [],
    ["--set", "watchNamespaces={team-a,team-b}"],
    ["--set", "replicaCount=2", "--set", "podDisruptionBudget.enabled=true"],
    ["--set", "podDisruptionBudget.enabled=true", "--set", "podDisruptionBudget.minAvailable=50%",
     "--set", "podDisruptionBudget.maxUnavailable=null", "--set", "topologySpreadConstraints[0].maxSkew=1",
     "--set", "topologySpreadConstraints[0].topologyKey=topology.kubernetes.io/zone",
     "--set", "topologySpreadConstraints[0].whenUnsatisfiable=DoNotSchedule"],
])
def test_template_is_accepted_by_a_server_side_dry_run(namespace: str, values: list[str]) -> None:
    manifests = helm("template", "mso", CHART, "--namespace", namespace, "--kube-version", KUBE_VERSION, *values)
    for ns in ("team-a", "team-b"):
        kube.kubectl("create", "namespace", ns, check=False)
    kube.kubectl("apply", "--server-side", "-f", str(kube.ROOT / "crds"))
    result = kube.kubectl("apply", "--dry-run=server", "-f", "-", stdin=manifests, check=False)
    assert result.returncode == 0, result.stderr


def test_template_needs_no_kube_version() -> None:
    """helm's default Kubernetes version (stamped from its client-go at build) satisfies the chart's kubeVersion."""
    result = run(HELM, "template", "mso", CHART, check=False)
    assert result.returncode == 0, result.stderr
    assert "kind: Deployment" in result.stdout


@pytest.mark.parametrize("values", [[], ["--set", "watchNamespaces={team-a,team-b}"]])
def test_rbac_may_update_only_the_microservices_finalizers(values: list[str]) -> None:
    """blockOwnerDeletion on the children needs it under OwnerReferencesPermissionEnforcement (OpenShift)."""
    docs = render(*values)
    roles = rendered(docs, "ClusterRole") + rendered(docs, "Role")
    object_roles = [r for r in roles if any("microservices" in rule["resources"] for rule in r["rules"])]
    assert len(object_roles) == (2 if values else 1)
    for role in object_roles:
        assert {"apiGroups": ["microservice-operator.io"], "resources": ["microservices/finalizers"],
                "verbs": ["update"]} in role["rules"]
    updates = [rule for role in roles for rule in role["rules"] if "update" in rule["verbs"]]
    lease = {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "resourceNames": ["microservice-operator"],
             "verbs": ["get", "update"]}  # leader election renews its one Lease
    assert all(rule["resources"] == ["microservices/finalizers"] or rule == lease for rule in updates), updates


def test_pdb_default_never_blocks_a_drain_of_one_replica() -> None:
    (pdb,) = rendered(render(*PDB_ON, "--set", "replicaCount=1"), "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1 and "minAvailable" not in pdb["spec"]
    assert pdb["spec"]["selector"]["matchLabels"] == {
        "app.kubernetes.io/name": "microservice-operator", "app.kubernetes.io/instance": "mso"}
    assert rendered(render(), "PodDisruptionBudget") == []  # off by default


def test_pdb_min_available_instead_of_max_unavailable() -> None:
    (pdb,) = rendered(render(*PDB_ON, "--set", "podDisruptionBudget.minAvailable=1",
                             "--set", "podDisruptionBudget.maxUnavailable=null"), "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 1 and "maxUnavailable" not in pdb["spec"]


def test_pdb_with_both_min_available_and_max_unavailable_fails() -> None:
    result = run(HELM, "template", "mso", CHART, "--kube-version", KUBE_VERSION, *PDB_ON,
                 "--set", "podDisruptionBudget.minAvailable=1", "--set", "podDisruptionBudget.maxUnavailable=1",
                 check=False)
    assert result.returncode != 0
    assert "podDisruptionBudget.minAvailable" in result.stderr
    assert "podDisruptionBudget.maxUnavailable" in result.stderr and "mutually exclusive" in result.stderr


def test_operator_container_has_a_readiness_probe_on_the_kopf_health_endpoint() -> None:
    (container,) = pod_spec()["containers"]
    probe = container["readinessProbe"]
    assert probe["httpGet"] == container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "healthz"}
    assert {"name": "healthz", "containerPort": 8080, "protocol": "TCP"} in container["ports"]
    assert "--liveness=http://0.0.0.0:8080/healthz" in container["args"]
    assert probe["periodSeconds"] > 0 and probe["timeoutSeconds"] < probe["periodSeconds"]


def test_topology_spread_defaults_to_a_soft_spread_over_nodes_with_two_replicas() -> None:
    spec = pod_spec("--set", "replicaCount=2")
    assert spec["topologySpreadConstraints"] == [{
        "maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway",
        "labelSelector": {"matchLabels": {
            "app.kubernetes.io/name": "microservice-operator", "app.kubernetes.io/instance": "mso"}}}]


def test_topology_spread_is_absent_with_one_replica() -> None:
    assert "topologySpreadConstraints" not in pod_spec("--set", "replicaCount=1")


def test_topology_spread_constraints_given_replace_the_default() -> None:
    spec = pod_spec("--set", "replicaCount=2", "--set", "topologySpreadConstraints[0].maxSkew=2",
                    "--set", "topologySpreadConstraints[0].topologyKey=topology.kubernetes.io/zone",
                    "--set", "topologySpreadConstraints[0].whenUnsatisfiable=DoNotSchedule")
    assert spec["topologySpreadConstraints"] == [
        {"maxSkew": 2, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule"}]


def _released(release: str) -> list[str]:
    """Everything still labelled with the release, cluster-wide."""
    kinds = "deployments,services,serviceaccounts,roles,rolebindings,poddisruptionbudgets,clusterroles," \
            "clusterrolebindings,leases"
    out = kube.kubectl("get", kinds, "-A", "-l", f"app.kubernetes.io/instance={release}", "-o", "name").stdout
    return sorted(out.split())


@pytest.fixture
def release(namespace: str, crds: None) -> Iterator[tuple[str, str]]:
    name = f"mso-{namespace[-5:]}"
    helm("install", name, CHART, "--namespace", namespace, "--wait", "--timeout", "2m")
    yield name, namespace
    helm("uninstall", name, "--namespace", namespace, "--wait", check=False)


def test_install_upgrade_uninstall(release: tuple[str, str]) -> None:
    name, namespace = release
    dep = kube.apps().read_namespaced_deployment(f"{name}-microservice-operator", namespace)
    # Leader election is on by default, so a rolling update may run two pods at once: the Lease arbitrates.
    assert dep.spec.strategy.type == "RollingUpdate" and dep.spec.replicas == 1
    container = dep.spec.template.spec.containers[0]
    assert "--all-namespaces" in container.args and container.liveness_probe.http_get.path == "/healthz"
    assert "--leader-elect" in container.args and "--lease=microservice-operator" in container.args
    assert container.readiness_probe.http_get.path == "/healthz"
    assert container.security_context.read_only_root_filesystem is True
    assert dep.spec.template.spec.security_context.run_as_non_root is True
    assert f"clusterrole.rbac.authorization.k8s.io/{name}-microservice-operator" in _released(name)

    for ns in ("team-a", "team-b"):
        kube.kubectl("create", "namespace", ns, check=False)
    helm("upgrade", name, CHART, "--namespace", namespace, "--wait", "--set", "watchNamespaces={team-a,team-b}",
         "--set", "logLevel=DEBUG", "--set", "podDisruptionBudget.enabled=true")
    objects = _released(name)
    assert f"clusterrole.rbac.authorization.k8s.io/{name}-microservice-operator" not in objects
    assert sum(o.startswith("role.rbac.authorization.k8s.io/") for o in objects) == 3  # 2 + leader election
    assert f"poddisruptionbudget.policy/{name}-microservice-operator" in objects
    args = kube.apps().read_namespaced_deployment(f"{name}-microservice-operator", namespace) \
        .spec.template.spec.containers[0].args
    assert "--namespace=team-a" in args and "--namespace=team-b" in args and "--log-level=DEBUG" in args

    helm("uninstall", name, "--namespace", namespace, "--wait")
    wait_for(lambda: not _released(name), what="nothing of the release left")
    assert kube.kubectl("get", "crd", "microservices.microservice-operator.io", check=False).returncode == 0


def _can(sa: str, *args: str) -> str:
    return kube.kubectl("auth", "can-i", f"--as={sa}", *args, check=False).stdout.strip()


def test_rbac_is_not_too_wide(release: tuple[str, str]) -> None:
    name, namespace = release
    sa = f"system:serviceaccount:{namespace}:{name}-microservice-operator"
    assert _can(sa, "get", "secrets", "-A") == "no"
    assert _can(sa, "*", "*") == "no"
    assert _can(sa, "delete", "namespaces") == "no"
    assert _can(sa, "update", "deployments", "-n", "default") == "no"  # patch (server-side apply) only
    assert _can(sa, "update", "leases/microservice-operator", "-n", namespace) == "yes"
    assert _can(sa, "update", "leases/kube-scheduler", "-n", namespace) == "no"  # its own Lease only
    assert _can(sa, "create", "leases", "-n", "default") == "no"  # in the release namespace only
    assert _can(sa, "patch", "deployments", "-n", "default") == "yes"
    assert _can(sa, "update", "microservices.microservice-operator.io", "-n", "default") == "no"
    assert _can(sa, "update", "microservices.microservice-operator.io", "--subresource=finalizers",
                "-n", "default") == "yes"
    rules = json.loads(kube.kubectl("get", "clusterroles", "-l", f"app.kubernetes.io/instance={name}",
                                    "-o", "json").stdout)["items"]
    for role in rules:
        for rule in role["rules"]:
            assert "*" not in rule["verbs"] and "*" not in rule["resources"] and "secrets" not in rule["resources"]


def _token_kubeconfig(tmp_path: Path, namespace: str, sa: str) -> Path:
    """A kubeconfig that authenticates as the ServiceAccount with a real TokenRequest token."""
    token = kube.kubectl("create", "token", sa, "-n", namespace, "--duration=1h").stdout.strip()
    return kube.write_token_kubeconfig(tmp_path / "sa-kubeconfig", token)


def test_rbac_is_sufficient_for_the_whole_lifecycle(release: tuple[str, str], operator: OperatorProcess,
                                                    tmp_path: Path) -> None:
    name, namespace = release
    operator.stop()  # only the operator running as the ServiceAccount acts
    kubeconfig = _token_kubeconfig(tmp_path, namespace, f"{name}-microservice-operator")
    as_sa = OperatorProcess(extra_env={"KUBECONFIG": str(kubeconfig)}, log_name=f"operator-rbac-{name}.log")
    as_sa.log_path.unlink(missing_ok=True)
    as_sa.start()
    try:
        kube.apply_obj(manifest(namespace, tracks=[("primary", 90), ("standby", 10)], failover={
            "policy": "ActiveStandby", "primary": "primary", "standby": "standby",
            "unhealthyAfterSeconds": 1, "failbackAfterSeconds": 1}))
        wait_converged(namespace)
        kube.kubectl("patch", "ms", "user", "-n", namespace, "--type=json", "-p", json.dumps([
            {"op": "replace", "path": "/spec/tracks/0/weight", "value": 70},
            {"op": "replace", "path": "/spec/tracks/1/weight", "value": 30}]))
        wait_for(lambda: replicas_by_track(namespace) == {"primary": 7, "standby": 3}, what="weight edit")
        wait_converged(namespace)
        set_pods_ready(namespace, "microservice-operator.io/track=primary", False)
        wait_for(lambda: replicas_by_track(namespace) == {"primary": 7, "standby": 10}, timeout=20, what="failover")
        kube.kubectl("delete", "ms", "user", "-n", namespace)
        wait_for(lambda: not owned(namespace, "deployments"), what="garbage collection")
    finally:
        as_sa.stop()
    log = as_sa.log_path.read_text()
    assert not re.search(r"403|[Ff]orbidden", log), log[-3000:]


def test_two_replicas_need_leader_election_and_get_a_role_for_their_lease_only() -> None:
    result = run(HELM, "template", "mso", CHART, "--set", "replicaCount=2", "--set", "leaderElection.enabled=false",
                 check=False)
    assert result.returncode != 0 and "replicaCount > 1 needs leaderElection.enabled=true" in result.stderr
    manifests = render("--set", "replicaCount=2", "--set", "leaderElection.leaseName=ops")
    (role,) = [r for r in rendered(manifests, "Role") if r["metadata"]["name"].endswith("-leader-election")]
    assert role["rules"] == [
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "resourceNames": ["ops"],
         "verbs": ["get", "update"]},
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]}]
    (deployment,) = rendered(manifests, "Deployment")
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--leader-elect" in args and "--lease=ops" in args
    env = {e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert not rendered(render("--set", "leaderElection.enabled=false"), "Role")  # cluster-wide: ClusterRoles only


NP_ON = ("--set", "networkPolicy.enabled=true")


def _policy_ports(rule: dict[str, Any]) -> list[tuple[str, int]]:
    return [(p["protocol"], p["port"]) for p in rule["ports"]]


def test_network_policy_is_rendered_only_when_enabled_with_the_ports_of_the_values() -> None:
    assert rendered(render(), "NetworkPolicy") == []  # off by default
    docs = render(*NP_ON, "--set", "livenessPort=8181", "--set", "metrics.port=9191",
                  "--set", "networkPolicy.apiServerCIDRs={10.96.0.1/32,172.18.0.2/32}",
                  "--set", "networkPolicy.apiServerPorts={443,16443}")
    (policy,) = rendered(docs, "NetworkPolicy")
    spec = policy["spec"]
    assert spec["podSelector"]["matchLabels"] == {
        "app.kubernetes.io/name": "microservice-operator", "app.kubernetes.io/instance": "mso"}
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    health, metrics = spec["ingress"]
    assert health == {"ports": [{"port": 8181, "protocol": "TCP"}]}  # from anywhere: the kubelet's probes
    assert metrics == {"from": [{"podSelector": {}}], "ports": [{"port": 9191, "protocol": "TCP"}]}
    (container,) = rendered(docs, "Deployment")[0]["spec"]["template"]["spec"]["containers"]
    assert {p["containerPort"] for p in container["ports"]} == {8181, 9191}  # the ports the pod listens on
    api, dns = spec["egress"]
    assert api["to"] == [{"ipBlock": {"cidr": "10.96.0.1/32"}}, {"ipBlock": {"cidr": "172.18.0.2/32"}}]
    assert _policy_ports(api) == [("TCP", 443), ("TCP", 16443)]
    assert dns["to"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                          "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}]
    assert _policy_ports(dns) == [("UDP", 53), ("TCP", 53)]


def test_network_policy_defaults_and_empty_peer_lists() -> None:
    (policy,) = rendered(render(*NP_ON), "NetworkPolicy")
    api = policy["spec"]["egress"][0]
    assert api["to"] == [{"ipBlock": {"cidr": "0.0.0.0/0"}}] and _policy_ports(api) == [("TCP", 443), ("TCP", 6443)]
    # An empty list admits no one: the rule is left out, never rendered as an empty `from` (which admits all).
    (closed,) = rendered(render(*NP_ON, "--set", "networkPolicy.metricsFrom=null", "--set", "networkPolicy.dnsTo=null"),
                         "NetworkPolicy")
    assert closed["spec"]["ingress"] == [{"ports": [{"port": 8080, "protocol": "TCP"}]}]
    assert [rule["to"] for rule in closed["spec"]["egress"]] == [[{"ipBlock": {"cidr": "0.0.0.0/0"}}]]
    result = run(HELM, "template", "mso", CHART, "--kube-version", KUBE_VERSION, *NP_ON,
                 "--set", "networkPolicy.apiServerCIDRs=null", check=False)
    assert result.returncode != 0 and "networkPolicy.apiServerCIDRs must not be empty" in result.stderr
    result = run(HELM, "template", "mso", CHART, "--kube-version", KUBE_VERSION, *NP_ON,
                 "--set", "networkPolicy.apiServerCIDRs={10.0.0.1}", check=False)  # not a CIDR: the schema
    assert result.returncode != 0 and "/networkPolicy/apiServerCIDRs/0" in result.stderr


@pytest.mark.parametrize("values", [
    [],
    ["--set", "networkPolicy.metricsFrom[0].namespaceSelector.matchLabels.kubernetes\\.io/metadata\\.name=monitoring",
     "--set", "networkPolicy.metricsFrom[0].podSelector.matchLabels.app\\.kubernetes\\.io/name=prometheus",
     "--set", "networkPolicy.dnsTo[0].ipBlock.cidr=169.254.20.10/32", "--set", "networkPolicy.apiServerPorts={32764}"],
])
def test_network_policy_is_accepted_by_a_server_side_dry_run(namespace: str, values: list[str]) -> None:
    manifests = helm("template", "mso", CHART, "--namespace", namespace, "--kube-version", KUBE_VERSION,
                     *NP_ON, *values, "--show-only", "templates/networkpolicy.yaml")
    (policy,) = [doc for doc in yaml.safe_load_all(manifests) if doc]
    assert policy["kind"] == "NetworkPolicy" and policy["metadata"]["namespace"] == namespace
    result = kube.kubectl("apply", "--dry-run=server", "-o", "json", "-f", "-", stdin=manifests, check=False)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["spec"]["egress"] == policy["spec"]["egress"]  # nothing dropped or defaulted


SM_ON = ("--set", "metrics.serviceMonitor.enabled=true")
SERVICE_MONITOR_CRD = Path(__file__).parent / "fixtures" / "monitoring.coreos.com_servicemonitors.yaml"


def test_service_monitor_selects_the_metrics_service_and_its_port() -> None:
    docs = render(*SM_ON, "--set", "metrics.serviceMonitor.labels.release=prom", "--set", "metrics.port=9191")
    (monitor,) = rendered(docs, "ServiceMonitor")
    (service,) = [s for s in rendered(docs, "Service") if s["metadata"]["name"].endswith("-metrics")]
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "prom"
    assert "namespaceSelector" not in monitor["spec"]  # its own namespace, which is the Service's
    assert monitor["metadata"]["namespace"] == service["metadata"]["namespace"]
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]} and endpoint["interval"] == "30s"
    # ... and the Service reaches the container's metrics port.
    (port,) = service["spec"]["ports"]
    (deployment,) = rendered(docs, "Deployment")
    pod = deployment["spec"]["template"]
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    (container,) = pod["spec"]["containers"]
    assert {"name": port["targetPort"], "containerPort": 9191, "protocol": "TCP"} in container["ports"]
    assert rendered(render(), "ServiceMonitor") == []  # off by default


@pytest.fixture
def service_monitor_crd(cluster: Path) -> Iterator[None]:
    """The Prometheus Operator's ServiceMonitor CRD on the cluster: left as it is when there, else created and
    deleted afterwards."""
    name = "servicemonitors.monitoring.coreos.com"
    created = kube.kubectl("get", "crd", name, check=False).returncode != 0
    if created:
        kube.kubectl("create", "-f", str(SERVICE_MONITOR_CRD))
    kube.kubectl("wait", "--for=condition=Established", f"crd/{name}", "--timeout=60s")
    yield
    if created:
        kube.kubectl("delete", "crd", name, "--timeout=60s", check=False)


def test_service_monitor_is_accepted_by_the_prometheus_operator_crd(namespace: str,
                                                                    service_monitor_crd: None) -> None:
    manifests = helm("template", "mso", CHART, "--namespace", namespace, "--kube-version", KUBE_VERSION, *SM_ON,
                     "--set", "metrics.serviceMonitor.interval=15s", "--show-only", "templates/metrics.yaml")
    (monitor,) = [doc for doc in yaml.safe_load_all(manifests) if doc and doc["kind"] == "ServiceMonitor"]
    result = kube.kubectl("apply", "--dry-run=server", "-o", "json", "-f", "-", stdin=yaml.safe_dump(monitor),
                          check=False)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["spec"]["endpoints"] == [{"port": "metrics", "interval": "15s"}]
    # The CRD's schema is what judged it: a field it does not know, or an interval it does not parse, is refused.
    for bad in ({"port": "metrics", "interval": "15 seconds"}, {"port": "metrics", "scrapeEvery": "15s"}):
        wrong = {**monitor, "spec": {**monitor["spec"], "endpoints": [bad]}}
        result = kube.kubectl("apply", "--dry-run=server", "-f", "-", stdin=yaml.safe_dump(wrong), check=False)
        assert result.returncode != 0 and ("interval" in result.stderr or "scrapeEvery" in result.stderr), \
            result.stdout
