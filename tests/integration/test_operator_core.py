"""The operator core on the real local cluster: children, weights, scale, drift, GC, validation."""

from __future__ import annotations

import json
import time

import pytest

from tests.conftest import OperatorProcess
from tests.support import kube
from tests.support.kube import wait_for
from tests.support.ms import manifest, owned, replicas_by_track, wait_converged

pytestmark = pytest.mark.cluster


def test_create_makes_children_and_reports_ready(namespace: str, operator_alive: OperatorProcess) -> None:
    kube.apply_obj(manifest(namespace))
    obj = wait_converged(namespace)
    assert owned(namespace, "deployments") == ["user-v1", "user-v2"]
    assert owned(namespace, "services") == ["user", "user-v1", "user-v2"]
    assert replicas_by_track(namespace) == {"v1": 9, "v2": 1}
    status = obj["status"]
    assert status["replicas"] == 10 and status["readyReplicas"] == 10 and status["weights"] == "v1=90,v2=10"
    assert status["selector"] == "microservice-operator.io/microservice=user"
    assert {c["type"]: c["status"] for c in status["conditions"]} == {
        "Ready": "True", "Progressing": "False", "Degraded": "False", "FailedOver": "False"}
    dep = kube.apps().read_namespaced_deployment("user-v1", namespace)
    assert dep.metadata.owner_references[0].uid == obj["metadata"]["uid"]
    assert dep.metadata.owner_references[0].controller is True
    assert [m.manager for m in dep.metadata.managed_fields if m.operation == "Apply"] == ["microservice-operator"]
    container = dep.spec.template.spec.containers[0]
    assert container.name == "app" and container.image == "example/user:v1"
    assert container.env[0].value == "v1" and container.security_context.run_as_non_root is True
    printed = kube.kubectl("get", "ms", "user", "-n", namespace).stdout
    assert "v1=90,v2=10" in printed and "Ready" in printed


def test_kubectl_patch_of_weights_reapportions(namespace: str, operator_alive: OperatorProcess) -> None:
    kube.apply_obj(manifest(namespace))
    wait_converged(namespace)
    patch = [{"op": "replace", "path": "/spec/tracks/0/weight", "value": 50},
             {"op": "replace", "path": "/spec/tracks/1/weight", "value": 50}]
    kube.kubectl("patch", "ms", "user", "-n", namespace, "--type=json", "-p", json.dumps(patch))
    wait_for(lambda: replicas_by_track(namespace) == {"v1": 5, "v2": 5}, what="5/5 replicas")
    assert wait_converged(namespace)["status"]["weights"] == "v1=50,v2=50"
    events = kube.kubectl("get", "events", "-n", namespace, "-o", "json").stdout
    assert "WeightsChanged" in events


def test_kubectl_wait_for_ready_waits_for_the_edit_to_be_served(namespace: str,
                                                                operator_alive: OperatorProcess) -> None:
    """kubectl wait skips a condition whose observedGeneration is older than the object's (as Flux's
    kstatus does), so waiting right after an edit returns only once the edit is carried out."""
    kube.apply_obj(manifest(namespace))
    kube.kubectl("wait", "--for=condition=Ready", "ms/user", "-n", namespace, "--timeout=60s")
    assert replicas_by_track(namespace) == {"v1": 9, "v2": 1}
    kube.kubectl("patch", "ms", "user", "-n", namespace, "--type=json", "-p", json.dumps([
        {"op": "replace", "path": "/spec/tracks/0/weight", "value": 20},
        {"op": "replace", "path": "/spec/tracks/1/weight", "value": 80}]))
    done = kube.kubectl("wait", "--for=condition=Ready", "ms/user", "-n", namespace, "--timeout=60s")
    assert "condition met" in done.stdout
    assert replicas_by_track(namespace) == {"v1": 2, "v2": 8}
    obj = kube.get_ms(namespace, "user")
    assert obj["status"]["observedGeneration"] == obj["metadata"]["generation"] == 2


def test_kubectl_scale_keeps_the_weights(namespace: str, operator_alive: OperatorProcess) -> None:
    kube.apply_obj(manifest(namespace, tracks=[("v1", 70), ("v2", 30)]))
    wait_converged(namespace)
    kube.kubectl("scale", "ms/user", "-n", namespace, "--replicas=4")
    wait_for(lambda: replicas_by_track(namespace) == {"v1": 3, "v2": 1}, what="3/1 replicas")
    obj = wait_converged(namespace)
    assert obj["spec"]["tracks"][0]["weight"] == 70 and obj["status"]["replicas"] == 4


def test_removing_a_track_cleans_up_its_children(namespace: str, operator_alive: OperatorProcess) -> None:
    kube.apply_obj(manifest(namespace, tracks=[("v1", 60), ("v2", 30), ("v3", 10)]))
    wait_converged(namespace)
    kube.apply_obj(manifest(namespace, tracks=[("v1", 60), ("v2", 40)]))
    wait_for(lambda: owned(namespace, "deployments") == ["user-v1", "user-v2"], what="user-v3 deleted")
    wait_for(lambda: owned(namespace, "services") == ["user", "user-v1", "user-v2"], what="svc user-v3 deleted")
    assert wait_for(lambda: replicas_by_track(namespace) == {"v1": 6, "v2": 4}, what="6/4")


def test_drift_is_repaired_within_seconds(namespace: str, operator_alive: OperatorProcess) -> None:
    kube.apply_obj(manifest(namespace))
    wait_converged(namespace)
    kube.kubectl("scale", "deployment/user-v1", "-n", namespace, "--replicas=2")
    kube.kubectl("delete", "service", "user-v2", "-n", namespace)
    started = time.monotonic()
    wait_for(lambda: replicas_by_track(namespace).get("v1") == 9, timeout=10, what="user-v1 back to 9")
    wait_for(lambda: "user-v2" in owned(namespace, "services"), timeout=10, what="service user-v2 back")
    assert time.monotonic() - started < 10  # watch-driven, not the 300 s resync


def test_deleting_the_microservice_garbage_collects_everything(namespace: str,
                                                               operator_alive: OperatorProcess) -> None:
    kube.apply_obj(manifest(namespace))
    wait_converged(namespace)
    kube.kubectl("delete", "ms", "user", "-n", namespace)
    wait_for(lambda: not owned(namespace, "deployments") and not owned(namespace, "services"),
             what="children garbage-collected")


@pytest.mark.parametrize(("change", "fragment"), [
    ({"tracks": [{"name": "a", "image": "i", "weight": 60}, {"name": "b", "image": "i", "weight": 50}]},
     "spec.tracks: weights must sum to 100, found 110"),
    ({"tracks": [{"name": "a", "image": "i", "weight": 50}, {"name": "a", "image": "j", "weight": 50}]},
     "spec.tracks[1]: Duplicate value"),
    ({"replicas": -1}, "spec.replicas: Invalid value: -1"),
    ({"tracks": [{"name": "a", "weight": 100}]}, "spec.tracks[0].image: Required value"),
    ({"tracks": [{"name": "a", "image": "i", "weight": 101}]}, "spec.tracks[0].weight: Invalid value: 101"),
    ({"tracks": []}, "spec.tracks: Invalid value: 0: spec.tracks in body should have at least 1 items"),
    # Admission rules for what the children (Deployments) would otherwise fail with 422:
    ({"tracks": [{"name": "a", "image": "example/user v1", "weight": 100}]},
     'spec.tracks[0].image: Invalid value: "example/user v1": spec.tracks[0].image in body should match'),
    ({"template": {"spec": {"containers": [{"name": "app", "image": " "}]}}},
     'spec.template.spec.containers[0].image: Invalid value: " "'),
    ({"template": {"spec": {"containers": [{"name": "app"}, {"name": "proxy"}]}}},
     "spec.template.spec.containers[1].image: Required value: every container but app (whose image is the track's) "
     "needs an image"),
    ({"template": {"spec": {"initContainers": [{"name": "migrate"}]}}},
     "spec.template.spec.initContainers[0].image: Required value: every init container needs an image"),
    ({"tracks": [{"name": "a", "image": "i", "weight": 100, "env": [{"name": "A=B", "value": "1"}]}]},
     'spec.tracks[0].env[0].name: Invalid value: "A=B"'),
    ({"template": {"spec": {"containers": [{"name": "app", "env": [{"name": ""}]}]}}},
     'spec.template.spec.containers[0].env[0].name: Invalid value: ""'),
    ({"template": {"spec": {"containers": [{"name": "app", "ports": [{"containerPort": 0}]}]}}},
     "spec.template.spec.containers[0].ports[0].containerPort: Invalid value: 0"),
    ({"template": {"spec": {"containers": [{"name": "app", "ports": [{"name": "metrics", "containerPort": 70000}]}]}}},
     "spec.template.spec.containers[0].ports[0].containerPort: Invalid value: 70000"),
    ({"template": {"spec": {"containers": [{"name": "app", "readinessProbe": {"tcpSocket": {"port": 0}}}]}}},
     "spec.template.spec.containers[0].readinessProbe.tcpSocket.port: Invalid value: 0"),
    ({"service": {"port": 70000}}, "spec.service.port: Invalid value: 70000"),
    ({"port": 0}, "spec.port: Invalid value: 0"),
    ({"tracks": [{"name": "a", "image": "i", "weight": 100, "resources": {"requests": {"cpu": "lots"}}}]},
     'spec.tracks[0].resources.requests[cpu]: Invalid value: "lots": must be a quantity of at least 0'),
    ({"tracks": [{"name": "a", "image": "i", "weight": 100, "resources": {"limits": {"memory": "-1Gi"}}}]},
     'spec.tracks[0].resources.limits[memory]: Invalid value: "-1Gi": must be a quantity of at least 0'),
    ({"tracks": [{"name": "a", "image": "i", "weight": 100, "resources": {
        "requests": {"cpu": "1500m", "memory": "64Mi"}, "limits": {"cpu": 1, "memory": "1Gi"}}}]},
     'spec.tracks[0].resources.requests: Invalid value: must not exceed limits of the same resource; '
     'above limits: ["cpu"]'),
    ({"template": {"spec": {"containers": [{"name": "app"}, {"name": "proxy", "image": "envoy:1", "resources": {
        "requests": {"memory": "2Gi"}, "limits": {"memory": "1Gi"}}}]}}},
     'spec.template.spec.containers[1].resources.requests: Invalid value: must not exceed limits of the same '
     'resource; above limits: ["memory"]'),
    ({"tracks": [{"name": "a", "image": "i", "weight": 100, "resources": {"requests": {"cpu": "2"}}}],
      "template": {"spec": {"containers": [{"name": "app", "resources": {"limits": {"cpu": "1"}}}]}}},
     "spec.tracks: Invalid value: requests above limits once a track's resources are merged over spec.template's "
     'app container: the track\'s requests above spec.template\'s limits: [["a", ["cpu"]]]'),
])
def test_bad_objects_are_rejected_naming_the_field(namespace: str, crds: None, change: dict[str, object],
                                                  fragment: str) -> None:
    bad = manifest(namespace, name="bad")
    bad["spec"].update(change)
    result = kube.kubectl("apply", "-f", "-", stdin=json.dumps(bad), check=False)
    assert result.returncode != 0
    assert fragment in result.stderr


def test_good_objects_are_not_refused_by_the_admission_rules(namespace: str, crds: None) -> None:
    """Quantities as strings and numbers, requests up to the limits (also once merged over the template),
    env names Kubernetes 1.32+ takes, digests, port bounds: all admitted and stored as given."""
    resources = {"requests": {"cpu": "500m", "memory": "1Gi", "ephemeral-storage": "1.5Gi"},
                 "limits": {"cpu": 1, "memory": "1Gi", "nvidia.com/gpu": 1}}
    good = manifest(namespace, name="good", tracks=[("v1", 100)], template={"spec": {
        "containers": [
            {"name": "app", "env": [{"name": "Logging__LogLevel", "value": "Debug"}, {"name": "my.setting-1"}],
             "ports": [{"name": "metrics", "containerPort": 65535, "hostPort": 0, "protocol": "TCP"},
                       {"containerPort": 1, "protocol": "UDP"}],
             "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http"}},
             "livenessProbe": {"tcpSocket": {"port": 8080}},
             "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "2", "memory": "2Gi"}}},
            {"name": "proxy", "image": "registry.example.com:5000/envoy@sha256:" + "0" * 64,
             "resources": {"requests": {"cpu": ".25", "memory": "64Mi"}, "limits": {"cpu": "250m", "memory": 10**8}}}],
        "initContainers": [{"name": "migrate", "image": "example/user:v1", "env": [{"name": "Logging:LogLevel"}]}]}})
    good["spec"]["tracks"][0]["resources"] = resources
    good["spec"]["tracks"][0]["env"].append({"name": "1ST_CHOICE", "value": "yes"})
    result = kube.kubectl("apply", "-f", "-", stdin=json.dumps(good), check=False)
    assert result.returncode == 0, result.stderr
    stored = kube.get_ms(namespace, "good")["spec"]
    assert stored["tracks"][0]["resources"] == resources
    assert stored["template"]["spec"]["containers"][1]["resources"]["limits"] == {"cpu": "250m", "memory": 10**8}


@pytest.mark.parametrize(("field", "fragment"), [
    ("microservices.spec.template.spec.containers.startupProbe", "failureThreshold"),
    ("microservices.spec.template.spec.volumes", "DESCRIPTION"),
    ("microservices.spec.progressDeadlineSeconds", "ProgressDeadlineExceeded"),
])
def test_kubectl_explain_describes_the_pod_template_and_the_new_fields(crds: None, field: str, fragment: str) -> None:
    """kubectl explain reads the schema the API server publishes (OpenAPI v3, some seconds after the
    CRD is established), not the file."""
    out = wait_for(lambda: kube.kubectl("explain", field, check=False).stdout, timeout=60, interval=1,
                   what=f"kubectl explain {field}")
    assert f"FIELD: {field.rsplit('.', maxsplit=1)[-1]}" in out and fragment in out, out


def test_unreconcilable_object_is_invalid_without_a_retry_loop(namespace: str,
                                                              operator_alive: OperatorProcess) -> None:
    long_name = "a-very-long-microservice-name-of-fifty-characters"
    kube.apply_obj(manifest(namespace, name=long_name, tracks=[("a-long-track-name-xx", 100)]))

    def invalid() -> dict[str, object] | None:
        obj = kube.get_ms(namespace, long_name)
        return obj if (obj.get("status") or {}).get("phase") == "Invalid" else None

    obj = wait_for(invalid, what="phase Invalid")
    ready = obj["status"]["conditions"][0]
    assert ready["type"] == "Ready" and ready["status"] == "False" and ready["reason"] == "InvalidSpec"
    assert "must be at most 63" in ready["message"]
    version = obj["metadata"]["resourceVersion"]
    time.sleep(3)
    assert kube.get_ms(namespace, long_name)["metadata"]["resourceVersion"] == version  # no hot loop
    assert owned(namespace, "deployments", long_name) == []
    assert operator_alive.proc is not None and operator_alive.proc.poll() is None


def test_sigkill_midway_then_restart_converges_without_duplicates_or_orphans(
        namespace: str, operator_alive: OperatorProcess) -> None:
    names = [f"svc{i}" for i in range(8)]
    for name in names:
        kube.apply_obj(manifest(namespace, name=name, replicas=3, tracks=[("a", 50), ("b", 50)]))
    time.sleep(0.3)
    operator_alive.kill()
    for name in names[:4]:  # edits while the operator is down
        kube.kubectl("scale", f"ms/{name}", "-n", namespace, "--replicas=5")
    operator_alive.start()
    for name in names:
        wait_converged(namespace, name, timeout=60)
    deployments = json.loads(kube.kubectl("get", "deployments", "-n", namespace, "-o", "json").stdout)["items"]
    services = json.loads(kube.kubectl("get", "services", "-n", namespace, "-o", "json").stdout)["items"]
    assert sorted(d["metadata"]["name"] for d in deployments) == sorted(f"{n}-{t}" for n in names for t in "ab")
    assert len(services) == 3 * len(names)
    uids = {kube.get_ms(namespace, n)["metadata"]["uid"] for n in names}
    assert all(o["metadata"]["ownerReferences"][0]["uid"] in uids for o in deployments + services)
    assert all(sum(replicas_by_track(namespace, n).values()) == (5 if i < 4 else 3) for i, n in enumerate(names))
