"""A weighted split measured on real requests: each a new connection through kube-proxy, counted by
the X-Served-By header of the pod that answered, compared with status.tracks[].effectiveWeight."""

from __future__ import annotations

import json

import pytest
from sample_common.traffic import Meter, PodMeter, Tally, compare

from tests.e2e.conftest import serving_url
from tests.support import kube
from tests.support.ms import MS_LABEL, effective_weights, sample_manifest, wait_converged

pytestmark = pytest.mark.cluster
REQUESTS = 4000
TOLERANCE = 3.0  # points; the binomial standard deviation at 75/25 over 4,000 requests is 0.7


def _split(meter: Meter, namespace: str, name: str) -> Tally:
    tally = meter.measure(serving_url(meter, namespace, name), count=REQUESTS, concurrency=8)
    print(f"{name}: {tally.summary()}")
    return tally


def _assert_matches_status(tally: Tally, namespace: str, name: str) -> None:
    assert tally.failed == 0, tally.errors
    shares = compare(tally, kube.get_ms(namespace, name)["status"])
    for share in shares:
        assert abs(share.delta) <= TOLERANCE, shares


def test_a_75_25_split_is_served_75_25_and_follows_a_weight_edit(chart_operator: str, real_namespace: str,
                                                                  meter: Meter) -> None:
    kube.apply_obj(sample_manifest(real_namespace, "web", [("v1", 75), ("v2", 25)], replicas=4))
    wait_converged(real_namespace, "web", timeout=120)
    kube.wait_pods_ready(real_namespace, f"{MS_LABEL}=web", 4)
    assert effective_weights(real_namespace, "web") == {"v1": 75, "v2": 25}
    _assert_matches_status(_split(meter, real_namespace, "web"), real_namespace, "web")

    kube.kubectl("patch", "ms", "web", "-n", real_namespace, "--type=json", "-p", json.dumps([
        {"op": "replace", "path": "/spec/tracks/0/weight", "value": 25},
        {"op": "replace", "path": "/spec/tracks/1/weight", "value": 75}]))
    wait_converged(real_namespace, "web", timeout=120)
    kube.wait_pods_ready(real_namespace, f"{MS_LABEL}=web", 4, settled=True)
    assert effective_weights(real_namespace, "web") == {"v1": 25, "v2": 75}
    _assert_matches_status(_split(meter, real_namespace, "web"), real_namespace, "web")


def test_the_split_measured_from_inside_the_cluster_by_dns_name(chart_operator: str, real_namespace: str,
                                                                 pod_meter: PodMeter) -> None:
    kube.apply_obj(sample_manifest(real_namespace, "web", [("v1", 75), ("v2", 25)], replicas=4))
    wait_converged(real_namespace, "web", timeout=120)
    kube.wait_pods_ready(real_namespace, f"{MS_LABEL}=web", 4)
    _assert_matches_status(_split(pod_meter, real_namespace, "web"), real_namespace, "web")
