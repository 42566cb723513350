"""A Microservice valid for its CRD whose child the API server refuses: reported, warned once, backed off."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest

from tests.conftest import OperatorProcess
from tests.support import audit, kube
from tests.support.kube import wait_for
from tests.support.ms import manifest, wait_converged

pytestmark = pytest.mark.cluster
WATCHED_SECONDS = 30.0


def _ready(namespace: str) -> dict[str, Any]:
    conds = (kube.get_ms(namespace, "user").get("status") or {}).get("conditions") or []
    return next((c for c in conds if c["type"] == "Ready"), {})


def test_a_refused_deployment_is_reported_warned_once_backed_off_and_recovers(
        namespace: str, operator_alive: OperatorProcess) -> None:
    # A volumeMount of a volume the pod does not declare: the CRD cannot see it, the Deployment's API can.
    broken = manifest(namespace, template={"spec": {"containers": [
        {"name": "app", "volumeMounts": [{"name": "missing", "mountPath": "/data"}]}]}})
    since = audit.offset()
    kube.apply_obj(broken)
    ready = wait_for(lambda: _ready(namespace) if _ready(namespace).get("reason") == "ApplyRejected" else None,
                     what="Ready=False ApplyRejected")
    assert ready["status"] == "False"
    assert "Deployment user-v1 refused by the API server" in ready["message"]
    assert "volumeMounts[0].name" in ready["message"] and "missing" in ready["message"]
    assert kube.get_ms(namespace, "user")["status"]["phase"] == "Degraded"
    time.sleep(WATCHED_SECONDS)
    writes = len(audit.operator_writes(namespace, since, resource="deployments", name="user-v1"))
    assert 1 <= writes <= 10, f"{writes} applies of the refused Deployment in {WATCHED_SECONDS:.0f} s"
    events = json.loads(kube.kubectl("get", "events", "-n", namespace, "-o", "json").stdout)["items"]
    warnings = [e for e in events if e["reason"] == "ApplyRejected"]
    assert len(warnings) == 1 and warnings[0]["type"] == "Warning", warnings
    kube.apply_obj(manifest(namespace))  # corrected: the template no longer mounts it
    wait_converged(namespace, timeout=90)  # within one capped backoff (60 s) plus the rollout


def test_pods_refused_by_a_quota_show_in_ready_with_the_deployments_reason(
        namespace: str, operator_alive: OperatorProcess) -> None:
    kube.apply_obj({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "pods", "namespace": namespace},
                    "spec": {"hard": {"pods": "5"}}})
    kube.apply_obj(manifest(namespace))  # 9 + 1 pods wanted, 5 allowed

    def refused() -> dict[str, Any] | None:
        ready = _ready(namespace)
        return ready if ready.get("reason") == "FailedCreate" else None

    ready = wait_for(refused, timeout=60, what="Ready=False FailedCreate")
    assert ready["status"] == "False" and "exceeded quota" in ready["message"]
    assert re.match(r"^\d+/10 replicas ready; track v[12]: ", ready["message"]), ready["message"]
    kube.kubectl("delete", "resourcequota", "pods", "-n", namespace)
    wait_converged(namespace, timeout=120)  # the ReplicaSet controller retries; the Deployment recovers
