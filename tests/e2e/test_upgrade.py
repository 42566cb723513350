"""Upgrading the operator with requests flowing. This release changes the pod template every Deployment
gets (a preStop sleep, automountServiceAccountToken off, a startupProbe), so the upgrade rolls every
workload: that rollout must fail no request. The previous release (PREVIOUS_RELEASE_COMMIT of
hack/cluster/versions.env) is installed from its own chart, CRD and image, then upgraded as the README
says (CRDs first, then `helm upgrade`, i.e. `make helm-install`)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sample_common.traffic import Load, Meter

from tests.e2e.conftest import RELEASE, RELEASE_NAMESPACE, helm_install, serving_url
from tests.support import images as image_support
from tests.support import kube
from tests.support.kube import wait_for
from tests.support.ms import MS_LABEL, sample_manifest, wait_converged

pytestmark = [pytest.mark.cluster, pytest.mark.local_cluster]


@pytest.fixture
def previous_release(chart_operator: str) -> Iterator[Path]:
    """The chart's release downgraded to the previous release (its CRD, chart and image); the current
    one is installed again afterwards, whatever the test did."""
    image, tree = image_support.build_previous_release()
    image_support.load_into_real_node(image)
    try:
        kube.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(tree / "crds"))
        image_support.run(str(kube.STATE / "bin" / "helm"), "upgrade", RELEASE,
                          str(tree / "charts" / "microservice-operator"), "--namespace", RELEASE_NAMESPACE,
                          "--set", f"image.tag={image.split(':', 1)[1]}", "--wait", timeout=300)
        yield tree
    finally:
        helm_install()


def _pre_stops(namespace: str, name: str) -> list[bool]:
    """For each live pod of the Microservice: whether its app container has a preStop hook."""
    pods = kube.core().list_namespaced_pod(namespace, label_selector=f"{MS_LABEL}={name}").items
    return [bool(p.spec.containers[0].lifecycle and p.spec.containers[0].lifecycle.pre_stop)
            for p in pods if p.metadata.deletion_timestamp is None]


def test_upgrading_from_the_previous_release_rolls_every_workload_and_fails_no_request(
        previous_release: Path, real_namespace: str, meter: Meter) -> None:
    ns, replicas = real_namespace, 4
    kube.apply_obj(sample_manifest(ns, "upg", [("v1", 50), ("v2", 50)], replicas=replicas))
    wait_converged(ns, "upg", timeout=180)
    kube.wait_pods_ready(ns, f"{MS_LABEL}=upg", replicas, timeout=180)
    assert _pre_stops(ns, "upg") == [False] * replicas  # the previous release's pod template
    with Load(meter, serving_url(meter, ns, "upg")) as load:
        upgraded_at = time.time()
        helm_install()
        wait_for(lambda: _pre_stops(ns, "upg") == [True] * replicas, timeout=240, interval=1,
                 what="every pod rolled to this release's template")
        wait_converged(ns, "upg", timeout=120)
        kube.wait_pods_ready(ns, f"{MS_LABEL}=upg", replicas, timeout=180, settled=True)
        rolled = load.between(upgraded_at, time.time())
    print(f"upgrade from the previous release: {rolled.summary()}")
    assert rolled.failed == 0 and rolled.sent > 1000, rolled.summary()
    assert set(rolled.served) == {"v1", "v2"}, rolled.summary()
