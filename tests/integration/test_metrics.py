"""The operator's Prometheus endpoint follows what happens to a Microservice."""

from __future__ import annotations

import json
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import OperatorProcess
from tests.support import kube
from tests.support.kube import set_pods_ready, wait_for
from tests.support.ms import manifest, wait_converged

pytestmark = pytest.mark.cluster


def scrape(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    with urllib.request.urlopen(url, timeout=5) as resp:
        text = resp.read().decode()
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def test_metrics_follow_a_weight_edit_and_a_failover(namespace: str, operator_alive: OperatorProcess) -> None:
    url = operator_alive.metrics_url
    kube.apply_obj(manifest(namespace, tracks=[("v1", 90), ("v2", 10)], failover={
        "policy": "ActiveStandby", "primary": "v1", "standby": "v2", "unhealthyAfterSeconds": 1,
        "failbackAfterSeconds": 1}))
    wait_converged(namespace)
    ids = {"namespace": namespace, "microservice": "user"}
    wait_for(lambda: value(scrape(url), "microservice_track_weight", **ids, track="v1") == 90, what="weight 90")
    samples = scrape(url)
    assert value(samples, "microservice_track_ready_replicas", **ids, track="v1") == 9
    assert value(samples, "microservice_failover_active", **ids) == 0
    assert (value(samples, "microservice_reconcile_duration_seconds_count") or 0) > 0

    kube.kubectl("patch", "ms", "user", "-n", namespace, "--type=json", "-p", json.dumps([
        {"op": "replace", "path": "/spec/tracks/0/weight", "value": 50},
        {"op": "replace", "path": "/spec/tracks/1/weight", "value": 50}]))
    wait_for(lambda: value(scrape(url), "microservice_track_weight", **ids, track="v2") == 50, what="weight 50")
    wait_for(lambda: value(scrape(url), "microservice_track_ready_replicas", **ids, track="v2") == 5,
             what="5 ready in v2")

    set_pods_ready(namespace, "microservice-operator.io/track=v1", False)
    wait_for(lambda: value(scrape(url), "microservice_failover_active", **ids) == 1, timeout=15, what="failover")
    assert value(scrape(url), "microservice_failovers_total", **ids) == 1
