"""What the CRD cannot catch: a child the API server refuses (422 on apply) or pods a later admission
refuses (Pod Security, ResourceQuota, LimitRange: the Deployment's ReplicaFailure). Each case must give
Ready=False with the reason and the field or rule named, one Warning event, a bounded write rate, and
recovery once the cause is gone."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.conftest import OperatorProcess
from tests.support import audit, kube
from tests.support.ms import manifest, wait_converged, wait_ready_reason

pytestmark = pytest.mark.cluster
WATCHED_SECONDS = 10.0
MAX_WRITES = 8  # applies of the refused Deployment in WATCHED_SECONDS (backoff 0.5, 1, 2, 4 s ...)


@dataclass(frozen=True)
class Case:
    reason: str  # ApplyRejected (apply refused) or the Deployment's reason (pods refused)
    fragments: tuple[str, ...]  # what the Ready message must name
    pod: dict[str, Any] = field(default_factory=dict)  # merged into spec.template.spec
    app: dict[str, Any] = field(default_factory=dict)  # merged into the app container of spec.template
    track: dict[str, Any] = field(default_factory=dict)  # merged into the track
    namespace_objects: tuple[dict[str, Any], ...] = ()  # made before, deleted to recover
    namespace_labels: dict[str, str] = field(default_factory=dict)  # set before, removed to recover


def _quota(hard: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "quota"}, "spec": {"hard": hard}}


def _limit_range(limit: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "limits"},
            "spec": {"limits": [{"type": "Container", **limit}]}}


EMPTY = {"emptyDir": {}}
CPU = {"resources": {"requests": {"cpu": "200m"}, "limits": {"cpu": "200m"}}}
CASES = {
    "volume-mount-of-undeclared-volume": Case("ApplyRejected", ("volumeMounts[0].name", "Not found"),
                                              app={"volumeMounts": [{"name": "missing", "mountPath": "/data"}]}),
    "hostname-not-a-dns-label": Case("ApplyRejected", ("spec.template.spec.hostname", "Invalid value"),
                                     pod={"hostname": "Not_A_Label"}),
    "active-deadline-in-a-deployment": Case("ApplyRejected", ("activeDeadlineSeconds", "Forbidden"),
                                            pod={"activeDeadlineSeconds": 30}),
    "two-sources-in-one-volume": Case("ApplyRejected", ("volumes[0]", "may not specify more than 1 volume type"),
                                      pod={"volumes": [{"name": "data", **EMPTY, "configMap": {"name": "x"}}]}),
    "env-value-from-two-sources": Case("ApplyRejected", ("env[0].valueFrom", "may not have more than one field"),
                                       app={"env": [{"name": "X", "valueFrom": {
                                           "fieldRef": {"fieldPath": "metadata.name"},
                                           "configMapKeyRef": {"name": "c", "key": "k"}}}]}),
    "restart-policy-never": Case("ApplyRejected", ("restartPolicy", "Unsupported value"),
                                 pod={"restartPolicy": "Never"}),
    "unknown-dns-policy": Case("ApplyRejected", ("dnsPolicy", "Unsupported value"), pod={"dnsPolicy": "Sometimes"}),
    "pod-quota-exceeded": Case("FailedCreate", ("track v1", "exceeded quota"),
                               namespace_objects=(_quota({"pods": "1"}),)),
    "quota-needs-cpu-limits": Case("FailedCreate", ("track v1", "must specify limits.cpu"),
                                   namespace_objects=(_quota({"limits.cpu": "10"}),)),
    "limit-range-max-cpu": Case("FailedCreate", ("track v1", "maximum cpu usage per Container is 100m"),
                                track=CPU, namespace_objects=(_limit_range({"max": {"cpu": "100m"}}),)),
    "limit-range-min-memory": Case("FailedCreate", ("track v1", "minimum memory usage per Container is 64Mi"),
                                   track={"resources": {"requests": {"memory": "16Mi"}, "limits": {"memory": "16Mi"}}},
                                   namespace_objects=(_limit_range({"min": {"memory": "64Mi"}}),)),
    "pod-security-host-network": Case("FailedCreate", ("track v1", "violates PodSecurity", "hostNetwork"),
                                      pod={"hostNetwork": True},
                                      namespace_labels={"pod-security.kubernetes.io/enforce": "restricted"}),
}


def _broken(namespace: str, case: Case) -> dict[str, Any]:
    obj = manifest(namespace, replicas=2, tracks=[("v1", 100)])
    obj["spec"]["tracks"][0].update(case.track)
    obj["spec"]["template"] = {"spec": {**case.pod, "containers": [{"name": "app", **case.app}]}}
    return obj


def _warnings(namespace: str, reason: str) -> list[dict[str, Any]]:
    events = json.loads(kube.kubectl("get", "events", "-n", namespace, "-o", "json").stdout)["items"]
    return [e for e in events if e["reason"] == reason and e["involvedObject"]["kind"] == "Microservice"]


def _set_up(namespace: str, case: Case) -> None:
    for obj in case.namespace_objects:
        kube.apply_obj({**obj, "metadata": {**obj["metadata"], "namespace": namespace}})
    for key, value in case.namespace_labels.items():
        kube.kubectl("label", "namespace", namespace, f"{key}={value}", "--overwrite")


def _recover(namespace: str, case: Case) -> None:
    for obj in case.namespace_objects:
        kube.kubectl("delete", obj["kind"].lower(), obj["metadata"]["name"], "-n", namespace)
    for key in case.namespace_labels:
        kube.kubectl("label", "namespace", namespace, f"{key}-")
    kube.apply_obj(manifest(namespace, replicas=2, tracks=[("v1", 100)]))  # the spec without its cause


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_a_refusal_the_crd_cannot_see_is_named_warned_once_backed_off_and_recovers(
        namespace: str, operator_alive: OperatorProcess, case: Case) -> None:
    _set_up(namespace, case)
    since = audit.offset()
    kube.apply_obj(_broken(namespace, case))
    ready = wait_ready_reason(namespace, case.reason, timeout=60)
    assert ready["status"] == "False"
    if case.reason == "ApplyRejected":
        assert "Deployment user-v1 refused by the API server" in ready["message"]
        assert kube.get_ms(namespace, "user")["status"]["phase"] == "Degraded"
    for fragment in case.fragments:
        assert fragment in ready["message"], ready["message"]
    time.sleep(WATCHED_SECONDS)
    writes = len(audit.operator_writes(namespace, since, resource="deployments", name="user-v1"))
    assert writes <= MAX_WRITES, f"{writes} writes of the Deployment in {WATCHED_SECONDS:.0f} s"
    warnings = _warnings(namespace, case.reason)
    assert len(warnings) == 1 and warnings[0]["type"] == "Warning", warnings
    _recover(namespace, case)
    wait_converged(namespace, timeout=90)  # within one capped backoff (60 s) plus the rollout
