from __future__ import annotations

from typing import Any

from microservice_operator.api import Microservice
from microservice_operator.resources.common import ANNOTATION_SPEC_HASH
from microservice_operator.resources.deployment import build_deployment
from microservice_operator.resources.httproute import build_httproute
from microservice_operator.resources.service import build_service, build_track_service


def ms(**spec: Any) -> Microservice:
    return Microservice.model_validate({
        "name": "user", "namespace": "shop", "uid": "uid-1", "generation": 1,
        "spec": {"tracks": [{"name": "v1", "image": "img:1", "weight": 90,
                             "env": [{"name": "VERSION", "value": "1"}],
                             "resources": {"requests": {"cpu": "100m"}}},
                            {"name": "v2", "image": "img:2", "weight": 10}], **spec},
    })


def test_deployment_contract() -> None:
    m = ms(port=9000, probes={"readinessPath": "/ready"})
    dep = build_deployment(m, m.spec.tracks[0], 9)
    meta = dep["metadata"]
    assert meta["name"] == "user-v1" and meta["namespace"] == "shop"
    assert meta["labels"] == {"app.kubernetes.io/name": "user", "app.kubernetes.io/managed-by": "microservice-operator",
                              "microservice-operator.io/microservice": "user", "microservice-operator.io/track": "v1"}
    assert meta["ownerReferences"] == [{"apiVersion": "microservice-operator.io/v1alpha1", "kind": "Microservice",
                                        "name": "user", "uid": "uid-1", "controller": True,
                                        "blockOwnerDeletion": True}]
    assert dep["spec"]["replicas"] == 9
    assert dep["spec"]["selector"]["matchLabels"] == {"microservice-operator.io/microservice": "user",
                                                      "microservice-operator.io/track": "v1"}
    [container] = dep["spec"]["template"]["spec"]["containers"]
    assert container["name"] == "app" and container["image"] == "img:1"
    assert container["ports"][0]["containerPort"] == 9000
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["env"] == [{"name": "VERSION", "value": "1"}]
    assert container["resources"] == {"requests": {"cpu": "100m"}}


def test_a_tracks_rollout_keeps_its_ready_pods_and_surges_by_max_surge() -> None:
    m = ms()
    spec = build_deployment(m, m.spec.tracks[0], 9)["spec"]
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}}
    assert "progressDeadlineSeconds" not in spec  # Kubernetes' default, 600 s
    m = ms(maxSurge=2, progressDeadlineSeconds=30)
    spec = build_deployment(m, m.spec.tracks[0], 9)["spec"]
    assert spec["strategy"]["rollingUpdate"] == {"maxSurge": 2, "maxUnavailable": 0}
    assert spec["progressDeadlineSeconds"] == 30


def test_restricted_security_by_default_and_opt_out() -> None:
    m = ms()
    pod = build_deployment(m, m.spec.tracks[1], 1)["spec"]["template"]["spec"]
    assert pod["securityContext"] == {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    sc = pod["containers"][0]["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False and sc["capabilities"] == {"drop": ["ALL"]}
    loose = ms(restrictedSecurityContext=False)
    pod = build_deployment(loose, loose.spec.tracks[1], 1)["spec"]["template"]["spec"]
    assert "securityContext" not in pod and "securityContext" not in pod["containers"][0]


def test_services_select_all_tracks_one_track_or_the_failover_target() -> None:
    m = ms(service={"type": "NodePort", "port": 81})
    shared = build_service(m)
    assert shared["metadata"]["name"] == "user" and shared["spec"]["type"] == "NodePort"
    assert shared["spec"]["selector"] == {"microservice-operator.io/microservice": "user"}
    assert shared["spec"]["ports"][0]["port"] == 81 and shared["spec"]["ports"][0]["targetPort"] == 8080
    narrowed = build_service(m, "v2")["spec"]["selector"]
    assert narrowed == {"microservice-operator.io/microservice": "user", "microservice-operator.io/track": "v2"}
    track = build_track_service(m, "v1")
    assert track["metadata"]["name"] == "user-v1" and track["spec"]["type"] == "ClusterIP"


def test_httproute_carries_the_weights() -> None:
    m = ms(routing={"strategy": "GatewayAPI", "gateway": {"parentRefs": [{"name": "gw", "sectionName": "http"}],
                                                          "hostnames": ["user.example"]}})
    route = build_httproute(m, {"v1": 0, "v2": 100})
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1" and route["metadata"]["name"] == "user"
    rule = route["spec"]["rules"][0]
    assert [(b["name"], b["weight"]) for b in rule["backendRefs"]] == [("user-v1", 0), ("user-v2", 100)]
    assert rule["matches"] == [{"path": {"type": "PathPrefix", "value": "/"}}]
    assert route["spec"]["parentRefs"][0] == {"group": "gateway.networking.k8s.io", "kind": "Gateway",
                                              "name": "gw", "sectionName": "http"}
    assert route["spec"]["hostnames"] == ["user.example"]


def test_spec_hash_changes_with_the_object_and_only_then() -> None:
    m = ms()
    a = build_deployment(m, m.spec.tracks[0], 9)["metadata"]["annotations"][ANNOTATION_SPEC_HASH]
    assert a == build_deployment(m, m.spec.tracks[0], 9)["metadata"]["annotations"][ANNOTATION_SPEC_HASH]
    assert a != build_deployment(m, m.spec.tracks[0], 8)["metadata"]["annotations"][ANNOTATION_SPEC_HASH]
