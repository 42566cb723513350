"""The local cluster is a real control plane: scheduling, kwok readiness, endpoints, GC, CEL."""

from __future__ import annotations

import json

import pytest
from kubernetes.client.rest import ApiException

from tests.support import kube
from tests.support.kube import set_pod_ready, set_pods_ready, wait_for

pytestmark = pytest.mark.cluster


def _deployment(namespace: str, replicas: int = 3) -> None:
    kube.apply_obj({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": namespace},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "web", "image": "example/web:1",
                                                       "ports": [{"containerPort": 8080}]}]}}},
    })
    kube.apply_obj({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": namespace},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
    })


def _available(namespace: str) -> int:
    return int(kube.apps().read_namespaced_deployment("web", namespace).status.available_replicas or 0)


def _endpoints(namespace: str) -> list[tuple[str, bool]]:
    slices = kube.kubectl("get", "endpointslices", "-n", namespace, "-l", "kubernetes.io/service-name=web",
                          "-o", "json").stdout
    return [(ep["targetRef"]["name"], bool(ep["conditions"].get("ready")))
            for s in json.loads(slices)["items"] for ep in s.get("endpoints") or []]


def test_nodes_are_kwok_and_ready(cluster: object) -> None:
    nodes = kube.core().list_node(label_selector="type=kwok").items
    assert len(nodes) >= 2
    assert all(c.status == "True" for n in nodes for c in n.status.conditions if c.type == "Ready")


def test_deployment_becomes_available_and_gets_ready_endpoints(namespace: str) -> None:
    _deployment(namespace)
    assert wait_for(lambda: _available(namespace) == 3, what="3 available replicas")

    def three_ready() -> list[tuple[str, bool]] | None:
        endpoints = _endpoints(namespace)
        return endpoints if len(endpoints) == 3 and all(ready for _, ready in endpoints) else None

    assert len(wait_for(three_ready, what="3 ready endpoints")) == 3


def test_unready_pod_drops_ready_replicas_and_its_endpoint(namespace: str) -> None:
    _deployment(namespace)
    wait_for(lambda: len([r for _, r in _endpoints(namespace) if r]) == 3, what="3 ready endpoints")
    pod = kube.core().list_namespaced_pod(namespace, label_selector="app=web").items[0]
    assert set_pod_ready(pod, False)
    wait_for(lambda: kube.apps().read_namespaced_deployment("web", namespace).status.ready_replicas == 2,
             what="readyReplicas 2")
    wait_for(lambda: dict(_endpoints(namespace)).get(pod.metadata.name) is False, what="endpoint not ready")
    assert set_pod_ready(pod, True)
    wait_for(lambda: kube.apps().read_namespaced_deployment("web", namespace).status.ready_replicas == 3,
             what="readyReplicas back to 3")
    assert set_pods_ready(namespace, "app=web", False) == 3
    wait_for(lambda: not kube.apps().read_namespaced_deployment("web", namespace).status.ready_replicas,
             what="no ready replica")


def test_deleting_an_owner_garbage_collects_its_dependents(namespace: str) -> None:
    owner = kube.core().create_namespaced_config_map(namespace, {"metadata": {"name": "owner"}})
    kube.core().create_namespaced_config_map(namespace, {"metadata": {
        "name": "dependent", "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner",
                                                  "uid": owner.metadata.uid}]}})
    kube.core().delete_namespaced_config_map("owner", namespace)

    def gone() -> bool:
        try:
            kube.core().read_namespaced_config_map("dependent", namespace)
        except ApiException as err:
            return err.status == 404
        return False

    wait_for(gone, what="the dependent ConfigMap to be garbage-collected")


WIDGET_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.test.microservice-operator.io"},
    "spec": {
        "group": "test.microservice-operator.io", "scope": "Namespaced",
        "names": {"kind": "Widget", "plural": "widgets", "singular": "widget"},
        "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
            "type": "object", "properties": {"spec": {
                "type": "object",
                "properties": {"min": {"type": "integer"}, "max": {"type": "integer"}},
                "x-kubernetes-validations": [{"rule": "self.min <= self.max",
                                              "message": "spec.min must not exceed spec.max"}],
            }}}}}],
    },
}


def test_cel_rule_rejects_a_bad_object_with_its_message(namespace: str) -> None:
    kube.apply_obj(WIDGET_CRD)
    kube.kubectl("wait", "--for=condition=Established", "crd/widgets.test.microservice-operator.io")
    good = {"apiVersion": "test.microservice-operator.io/v1", "kind": "Widget",
            "metadata": {"name": "ok", "namespace": namespace}, "spec": {"min": 1, "max": 2}}
    wait_for(lambda: kube.kubectl("apply", "-f", "-", stdin=json.dumps(good), check=False).returncode == 0,
             what="the Widget CRD to serve")
    bad = {**good, "metadata": {"name": "bad", "namespace": namespace}, "spec": {"min": 3, "max": 2}}
    result = kube.kubectl("apply", "-f", "-", stdin=json.dumps(bad), check=False)
    assert result.returncode != 0
    assert "spec.min must not exceed spec.max" in result.stderr
