from __future__ import annotations

from datetime import UTC, datetime

from microservice_operator.plan import Observed, plan
from microservice_operator.resources.shapes import BY_KIND, MICROSERVICE, pack, project, unpack

FULL = {
    "apiVersion": "microservice-operator.io/v1alpha1", "kind": "Microservice",
    "metadata": {"name": "user", "namespace": "shop", "uid": "u1", "generation": 1},
    "spec": {"replicas": 5, "port": 9000, "service": {"type": "NodePort", "port": 81},
             "probes": {"readinessPath": "/r", "livenessPath": "/l"},
             "routing": {"strategy": "GatewayAPI", "gateway": {"parentRefs": [{"name": "gw", "namespace": "x",
                                                                             "sectionName": "s"}],
                                                            "hostnames": ["h"], "path": "/p"}},
             "tracks": [{"name": "a", "image": "i:1", "weight": 60, "env": [{"name": "E", "value": "1"}],
                         "resources": {"limits": {"memory": "1Gi"}}},
                        {"name": "b", "image": "i:2", "weight": 40}],
             "template": {"metadata": {"labels": {"team": "a"}, "annotations": {"scrape": "true"}},
                          "spec": {"serviceAccountName": "sa", "volumes": [{"name": "tmp", "emptyDir": {}}],
                                   "initContainers": [{"name": "init", "image": "i:0"}],
                                   "containers": [{"name": "app", "args": ["-v"], "startupProbe": {"exec": {}},
                                                   "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}]},
                                                  {"name": "sidecar", "image": "s:1"}]}}},
}


def test_projection_keeps_everything_the_builders_set() -> None:
    built = plan(FULL, Observed(), datetime.now(UTC)).apply
    assert {o["kind"] for o in built} == {"Deployment", "Service", "HTTPRoute"}
    for obj in built:
        assert project(obj, BY_KIND[obj["kind"]]) == obj, obj["kind"]


def test_projection_drops_what_the_server_adds() -> None:
    live = {"kind": "Service", "metadata": {"name": "s", "managedFields": [{"manager": "x"}], "uid": "1"},
            "spec": {"clusterIP": "10.0.0.1", "type": "ClusterIP", "ports": [{"port": 80}]},
            "status": {"loadBalancer": {}}}
    assert project(live, BY_KIND["Service"]) == {"kind": "Service", "metadata": {"name": "s", "uid": "1"},
                                                 "spec": {"type": "ClusterIP", "ports": [{"port": 80}]}}


def test_deployment_projection_keeps_the_conditions_health_reads_without_their_timestamps() -> None:
    live = {"kind": "Deployment", "metadata": {"name": "d"}, "status": {"readyReplicas": 2, "conditions": [
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "m",
         "lastUpdateTime": "2026-12-04T00:00:00Z", "lastTransitionTime": "2026-12-04T00:00:00Z"}]}}
    assert project(live, BY_KIND["Deployment"])["status"] == {"readyReplicas": 2, "conditions": [
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "m"}]}


def test_microservice_projection_keeps_spec_and_status_and_packs_losslessly() -> None:
    live = {**FULL, "metadata": {**FULL["metadata"], "managedFields": [{"manager": "kubectl"}],
                                 "resourceVersion": "7", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "status": {"phase": "Ready", "observedGeneration": 1}}
    projected = project(live, MICROSERVICE)
    assert projected["metadata"] == {"name": "user", "namespace": "shop", "uid": "u1", "generation": 1,
                                     "resourceVersion": "7"}
    assert projected["spec"] == FULL["spec"] and projected["status"] == live["status"]
    packed = pack(projected)
    assert isinstance(packed, str) and ", " not in packed and ": " not in packed  # compact
    assert unpack(packed) == projected
