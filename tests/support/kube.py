"""Helpers for tests on the real local cluster: clients, kubectl, waiting, and pod readiness."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from kubernetes import client, config
from kubernetes.client.rest import ApiException

ROOT = Path(__file__).resolve().parents[2]
STATE = ROOT / ".cluster"
# `make test-e2e` runs the real-node tests on the cluster of the caller's KUBECONFIG when it is set
# (kind, minikube); every other run, and every test that needs kwok, uses the local cluster.
TARGET_KUBECONFIG = os.environ.get("MSO_E2E_KUBECONFIG") or ""
LOCAL = not TARGET_KUBECONFIG
KUBECONFIG = Path(TARGET_KUBECONFIG) if TARGET_KUBECONFIG else STATE / "kubeconfig"
NODE_ENV = dict(line.split("=", 1) for line in (ROOT / "hack" / "cluster" / "node" / "node.env").read_text()
                .splitlines() if "=" in line and not line.startswith("#"))
# The local cluster's Gateway (Traefik; Gateway gateway-system/local), on 127.0.0.1 only.
GATEWAY_URL = f"http://127.0.0.1:{NODE_ENV['GATEWAY_PORT']}"
KUBECTL = STATE / "bin" / "kubectl"
# The annotation that keeps a namespace's pods on the kwok nodes (PodNodeSelector; see
# hack/cluster/node/node.env). Namespaces without it schedule onto the real node.
KWOK_NAMESPACE_ANNOTATION = "scheduler.alpha.kubernetes.io/node-selector=type=kwok"
GROUP, VERSION, PLURAL = "microservice-operator.io", "v1alpha1", "microservices"

T = TypeVar("T")


@cache
def api_client() -> client.ApiClient:
    cfg = client.Configuration()
    config.load_kube_config(config_file=str(KUBECONFIG), client_configuration=cfg)
    return client.ApiClient(cfg)


def core() -> client.CoreV1Api:
    return client.CoreV1Api(api_client())


def apps() -> client.AppsV1Api:
    return client.AppsV1Api(api_client())


def custom() -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api_client())


def kubectl(*args: str, check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Runs the cluster's own kubectl against the local cluster."""
    result = subprocess.run([str(KUBECTL), "--kubeconfig", str(KUBECONFIG), *args], input=stdin,
                            capture_output=True, text=True, timeout=120, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
    return result


def wait_for(probe: Callable[[], T], timeout: float = 30.0, interval: float = 0.2, what: str = "") -> T:
    """Calls ``probe`` until it returns something truthy; fails with the last value after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except ApiException as err:
            last = f"HTTP {err.status}"
        if last:
            return last  # type: ignore[no-any-return]
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or probe}: last value {last!r}")


def _transition_time(pod: Any) -> datetime:
    """Now, as the kubelet stamps a readiness change; at least a second after the containers started.

    Times have a resolution of one second, and a real probe cannot flip a pod within the second its
    container started: kwok's pods can be flipped that fast, and would then look as if still starting.
    """
    started = [cs.state.running.started_at for cs in pod.status.container_statuses or []
               if cs.state and cs.state.running and cs.state.running.started_at]
    now = datetime.now(UTC)
    return max([now, *(t + timedelta(seconds=1) for t in started)])


def set_pod_ready(pod: Any, ready: bool) -> bool:
    """Sets a pod's Ready and ContainersReady conditions through the status subresource.

    kwok marks pods ready once and leaves them alone, so this stands in for a failing readiness
    probe: the Deployment's readyReplicas and the EndpointSlices follow, as on a real node. The
    transition time is stamped as the kubelet does: health tells a pod that stopped being ready
    from one still starting by it.
    ``pod`` is a V1Pod, a dict with metadata, or a ``(namespace, name)`` tuple. Returns False if
    the pod is gone (a scale-down's pod can vanish between a list and this call).
    """
    namespace, name = _pod_key(pod)
    status = "True" if ready else "False"
    for _ in range(10):
        try:
            live = core().read_namespaced_pod_status(name, namespace)
        except ApiException as err:
            if err.status == 404:
                return False
            raise
        stamp = _transition_time(live)
        for cond in live.status.conditions or []:
            if cond.type in ("Ready", "ContainersReady") and cond.status != status:
                cond.status = status
                cond.last_transition_time = stamp
        for cs in live.status.container_statuses or []:
            cs.ready = ready
        try:
            core().replace_namespaced_pod_status(name, namespace, live)
            return True
        except ApiException as err:
            if err.status == 404:
                return False
            if err.status != 409:
                raise
    raise AssertionError(f"could not set readiness of pod {namespace}/{name}: kept conflicting")


def set_pods_ready(namespace: str, selector: str, ready: bool) -> int:
    """``set_pod_ready`` for every pod matching the label ``selector``; returns how many it set."""
    pods = core().list_namespaced_pod(namespace, label_selector=selector).items
    return sum(set_pod_ready(pod, ready) for pod in pods)


def _pod_key(pod: Any) -> tuple[str, str]:
    if isinstance(pod, tuple):
        return pod
    if isinstance(pod, dict):
        return pod["metadata"]["namespace"], pod["metadata"]["name"]
    return pod.metadata.namespace, pod.metadata.name


def get_ms(namespace: str, name: str) -> dict[str, Any]:
    obj: dict[str, Any] = custom().get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    return obj


def apply_yaml(manifest: str) -> str:
    return kubectl("apply", "--server-side", "-f", "-", stdin=manifest).stdout


def apply_obj(obj: dict[str, Any]) -> str:
    return apply_yaml(json.dumps(obj))


def ready_counts(namespace: str, name: str) -> dict[str, int]:
    """Deployment replicas per track of a Microservice."""
    deps = apps().list_namespaced_deployment(
        namespace, label_selector=f"microservice-operator.io/microservice={name}").items
    return {d.metadata.labels["microservice-operator.io/track"]: d.spec.replicas for d in deps}


def portable_kubeconfig() -> dict[str, Any]:
    """The local cluster's kubeconfig, current context only, with certificates embedded as data."""
    config: dict[str, Any] = json.loads(kubectl("config", "view", "--flatten", "--minify", "-o", "json").stdout)
    return config


def write_token_kubeconfig(path: Path, token: str) -> Path:
    """A kubeconfig at ``path`` for the local cluster that authenticates with a bearer ``token``."""
    config = portable_kubeconfig()
    config["users"] = [{"name": "token", "user": {"token": token}}]
    config["contexts"][0]["context"]["user"] = "token"
    path.write_text(json.dumps(config))
    return path


def env_with_kubeconfig() -> dict[str, str]:
    return {**os.environ, "KUBECONFIG": str(KUBECONFIG), "PATH": f"{STATE / 'bin'}:{os.environ['PATH']}"}


def wait_pods_ready(namespace: str, selector: str, count: int, timeout: float = 120, settled: bool = False,
                    ) -> list[str]:
    """Until exactly ``count`` pods match ``selector`` and every one of them is Ready; their IPs.

    ``settled``: also until no matching pod is terminating. A terminating pod can still get requests
    until kube-proxy has removed it, and refuse them (the samples close their listener at SIGTERM).
    """
    def ready() -> list[str] | None:
        pods = core().list_namespaced_pod(namespace, label_selector=selector).items
        live = [p for p in pods if p.metadata.deletion_timestamp is None]
        ok = len(live) == count and (not settled or len(pods) == count) and all(
            any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or []) for p in live)
        return [p.status.pod_ip for p in live] if ok else None

    return wait_for(ready, timeout=timeout, interval=0.5, what=f"{count} ready pods {selector} in {namespace}")


def ready_pod_names(namespace: str, selector: str) -> set[str]:
    """Names of the pods matching ``selector`` that are Ready and not terminating."""
    pods = core().list_namespaced_pod(namespace, label_selector=selector).items
    return {p.metadata.name for p in pods if p.metadata.deletion_timestamp is None
            and any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])}
