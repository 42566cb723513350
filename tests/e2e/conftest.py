"""Fixtures of the real-node tests: images on the node, the operator installed by its chart, meters.

These tests run real containers: on the local cluster's real node (`make test`), or on the cluster
of KUBECONFIG (`make test-e2e`, kind or minikube: load the images first with `make kind-load`).
They install the chart (release microservice-operator in namespace microservice-operator-system)
and remove it, and every namespace they make, when they finish.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

import pytest
from kubernetes import watch
from sample_common.traffic import HostMeter, Meter, PodMeter, settle

from tests.conftest import make_namespace
from tests.support import images as image_support
from tests.support import kube
from tests.support.ms import MS_LABEL, sample_manifest, track_selector, wait_converged

RELEASE = "microservice-operator"
RELEASE_NAMESPACE = "microservice-operator-system"
RESTRICTED = "pod-security.kubernetes.io/enforce=restricted"
METER_NAMESPACE = "mso-e2e-meter"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under `make test-e2e` on another cluster, deselect (and say so) the tests that need this one's."""
    if kube.LOCAL:
        return
    local = [item for item in items if item.get_closest_marker("local_cluster")]
    for item in local:
        items.remove(item)
    if local:
        print(f"\ndeselected {len(local)} test(s) that need the local cluster: "
              + ", ".join(item.name for item in local))


@pytest.fixture(scope="package")
def node_images(cluster: Path) -> None:
    """The images in the node's runtime: built and loaded here; on another cluster, loaded by the user."""
    if kube.LOCAL:
        image_support.build()
        image_support.load_into_real_node()


def helm_install() -> None:
    """`make helm-install`: this release's CRDs, then its chart (an install or an upgrade)."""
    image_support.run("make", "--no-print-directory", "-C", str(kube.ROOT), "helm-install", timeout=300)


@pytest.fixture(scope="package")
def chart_operator(node_images: None) -> Iterator[str]:
    """The operator as users install it: `make helm-install`, from its image, in a restricted namespace.

    Yields the release namespace; uninstalls the release (the CRDs stay, as with Helm) at the end.
    """
    helm_install()
    yield RELEASE_NAMESPACE
    image_support.run(str(kube.STATE / "bin" / "helm"), "uninstall", RELEASE, "--namespace", RELEASE_NAMESPACE,
                      "--wait", check=False, timeout=180)
    kube.kubectl("delete", "namespace", RELEASE_NAMESPACE, "--wait=false", check=False)


@pytest.fixture(scope="package")
def pod_meter(node_images: None) -> Iterator[PodMeter]:
    """The in-cluster meter: a pod of the user-service image that sends the requests from inside."""
    kube.kubectl("create", "namespace", METER_NAMESPACE, check=False)
    kube.kubectl("label", "namespace", METER_NAMESPACE, "--overwrite", RESTRICTED)
    meter = PodMeter([str(kube.KUBECTL), "--kubeconfig", str(kube.KUBECONFIG)], METER_NAMESPACE,
                     image_support.USER_IMAGE)
    meter.start()
    yield meter
    meter.stop()
    kube.kubectl("delete", "namespace", METER_NAMESPACE, "--wait=false", check=False)


@pytest.fixture(scope="package")
def meter(request: pytest.FixtureRequest) -> Meter:
    """From the host through kube-proxy on the local cluster; from a pod elsewhere (kind's host cannot
    reach ClusterIPs or pod IPs)."""
    if kube.LOCAL:
        return HostMeter()
    pod: PodMeter = request.getfixturevalue("pod_meter")
    return pod


@pytest.fixture
def real_namespace(cluster: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A namespace of the test's own that enforces the restricted Pod Security profile; its pods
    schedule onto the real node. Deleted afterwards."""
    name = make_namespace(request, RESTRICTED)
    yield name
    kube.kubectl("delete", "namespace", name, "--wait=false", check=False)


def service_url(meter: Meter, namespace: str, service: str, path: str = "/") -> str:
    """The Service's URL as ``meter`` reaches it: by ClusterIP from the host, by DNS name from a pod."""
    if isinstance(meter, HostMeter):
        spec = kube.core().read_namespaced_service(service, namespace).spec
        return f"http://{spec.cluster_ip}:{spec.ports[0].port}{path}"
    return f"http://{service}.{namespace}.svc.cluster.local{path}"


def serving_url(meter: Meter, namespace: str, name: str, path: str = "/healthz") -> str:
    """The Microservice's Service URL, once requests to it reach exactly its ready pods (``settle``)."""
    url = service_url(meter, namespace, name, path)
    settle(meter, url, kube.ready_pod_names(namespace, f"{MS_LABEL}={name}"))
    return url


def pod_ips(namespace: str, selector: str) -> list[str]:
    """IPs of the running pods matching the label ``selector``."""
    pods = kube.core().list_namespaced_pod(namespace, label_selector=selector).items
    return [p.status.pod_ip for p in pods if p.status.pod_ip and p.metadata.deletion_timestamp is None]


# Short failover dwells, so that a test's failover and failback take seconds.
DWELL = {"unhealthyAfterSeconds": 3, "failbackAfterSeconds": 5, "minReadyPercent": 50}


def deploy(meter: Meter, namespace: str, name: str, tracks: list[tuple[str, int]], *, replicas: int,
           failover: dict[str, Any] | None = None, timeout: float = 120, **manifest: Any) -> str:
    """Applies a sample Microservice (``failover`` with DWELL), waits until it serves with every pod
    ready; its Service's URL."""
    if failover is not None:
        manifest["failover"] = {**failover, **DWELL}
    kube.apply_obj(sample_manifest(namespace, name, tracks, replicas=replicas, **manifest))
    wait_converged(namespace, name, timeout=timeout)
    kube.wait_pods_ready(namespace, f"{MS_LABEL}={name}", replicas, timeout=timeout)
    return serving_url(meter, namespace, name)


def fault(meter: Meter, namespace: str, name: str, track: str, state: str, *, count: int | None = None) -> int:
    """Sets the fault switch of the pods of ``track`` (by pod IP; the first ``count``, or all) to
    ``state`` (ready or unready); how many."""
    ips = pod_ips(namespace, track_selector(name, track))[:count]
    for ip in ips:
        code, body = meter.call("POST", f"http://{ip}:8080/fault/{state}")
        assert code == 200, body
    return len(ips)


def ms_status(namespace: str, name: str) -> dict[str, Any]:
    status: dict[str, Any] = kube.get_ms(namespace, name).get("status") or {}
    return status


def failover_status(namespace: str, name: str) -> dict[str, Any]:
    failover: dict[str, Any] = ms_status(namespace, name).get("failover") or {}
    return failover


def events(namespace: str, name: str) -> list[dict[str, str]]:
    """The Microservice's events: type, reason, message."""
    out = kube.kubectl("get", "events", "-n", namespace, "--field-selector",
                       f"involvedObject.kind=Microservice,involvedObject.name={name}", "-o", "json").stdout
    return [{"type": e["type"], "reason": e["reason"], "message": e.get("message", "")}
            for e in json.loads(out)["items"]]


class WatchThread:
    """A watch run in a thread for the length of a ``with self.running():`` block, restarted every 2 s
    until then; subclasses say what to list (``_listing``) and what to do with each event (``_on``)."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _listing(self) -> tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]:
        """The list function of the watch, its arguments and keyword arguments."""
        raise NotImplementedError

    def _on(self, event: dict[str, Any]) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        list_function, args, kwargs = self._listing()
        while not self._stop.is_set():
            for event in watch.Watch().stream(list_function, *args, timeout_seconds=2, **kwargs):
                self._on(event)
                if self._stop.is_set():
                    return

    @contextmanager
    def running(self) -> Iterator[Self]:
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join(timeout=10)
