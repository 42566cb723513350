"""spec.template: how the pod template of each track's Deployment is merged from the template, the
operator's defaults and the track, and which templates are refused (README: "spec.template")."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from microservice_operator.api import Microservice
from microservice_operator.plan import Observed, plan
from microservice_operator.resources.deployment import RESTRICTED_CONTAINER, RESTRICTED_POD, build_deployment
from microservice_operator.resources.shapes import DEPLOYMENT, project

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 1, 1, tzinfo=UTC)
TRACK = {"name": "v1", "image": "img:1", "weight": 100,
         "env": [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}],
         "resources": {"limits": {"memory": "128Mi"}}}
HTTP = {"name": "http", "containerPort": 8080, "protocol": "TCP"}
READINESS = {"httpGet": {"path": "/readyz", "port": "http"}, "periodSeconds": 5}
SIDECAR = {"name": "proxy", "image": "envoy:1", "args": ["--quiet"]}
INIT = {"name": "migrate", "image": "img:1", "command": ["migrate"]}


def spec_with(template: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    return {"tracks": [TRACK], **({"template": template} if template is not None else {}), **spec}


def pod_template(template: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    ms = Microservice.model_validate({"name": "user", "namespace": "shop", "spec": spec_with(template, **spec)})
    result: dict[str, Any] = build_deployment(ms, ms.spec.tracks[0], 2)["spec"]["template"]
    return result


def at(obj: Any, *path: str) -> Any:
    """Walks ``path``; a key applied to a list picks the element with that ``name``."""
    for key in path:
        obj = next(e for e in obj if e["name"] == key) if isinstance(obj, list) else obj[key]
    return obj


def app_with(**fields: Any) -> dict[str, Any]:
    return {"spec": {"containers": [{"name": "app", **fields}]}}


# (case, template, other spec fields, path into the pod template, expected value)
MERGES: list[tuple[str, dict[str, Any] | None, dict[str, Any], tuple[str, ...], Any]] = [
    # the template is silent: the operator's defaults
    ("silent: port http", None, {}, ("spec", "containers", "app", "ports"), [HTTP]),
    ("silent: readiness probe", None, {}, ("spec", "containers", "app", "readinessProbe"), READINESS),
    ("silent: pod security", None, {}, ("spec", "securityContext"), RESTRICTED_POD),
    ("silent: container security", None, {}, ("spec", "containers", "app", "securityContext"),
     RESTRICTED_CONTAINER),
    ("silent: no API token", None, {}, ("spec", "automountServiceAccountToken"), False),
    ("silent: preStop sleep 5", None, {}, ("spec", "containers", "app", "lifecycle"),
     {"preStop": {"sleep": {"seconds": 5}}}),
    ("silent: grace preStop + 30", None, {}, ("spec", "terminationGracePeriodSeconds"), 35),
    ("silent: one container", None, {}, ("spec", "containers", "app", "name"), "app"),
    ("empty template", {}, {}, ("spec", "containers", "app", "ports"), [HTTP]),
    # the template sets it: it wins
    ("token on", {"spec": {"automountServiceAccountToken": True}}, {}, ("spec", "automountServiceAccountToken"),
     True),
    ("pod runAsUser keeps the restricted defaults", {"spec": {"securityContext": {"runAsUser": 1000}}}, {},
     ("spec", "securityContext"), {**RESTRICTED_POD, "runAsUser": 1000}),
    ("container security merges field by field",
     app_with(securityContext={"readOnlyRootFilesystem": True, "capabilities": {"add": ["NET_BIND_SERVICE"]}}), {},
     ("spec", "containers", "app", "securityContext"),
     {**RESTRICTED_CONTAINER, "readOnlyRootFilesystem": True,
      "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}}),
    ("not restricted: security as given", {"spec": {"securityContext": {"runAsUser": 0}}},
     {"restrictedSecurityContext": False}, ("spec", "securityContext"), {"runAsUser": 0}),
    ("probe with a handler replaces", app_with(readinessProbe={"exec": {"command": ["true"]}}), {},
     ("spec", "containers", "app", "readinessProbe"), {"exec": {"command": ["true"]}}),
    ("probe without a handler tunes timings", app_with(readinessProbe={"initialDelaySeconds": 10}), {},
     ("spec", "containers", "app", "readinessProbe"), {**READINESS, "initialDelaySeconds": 10}),
    ("silent: a startup probe on the liveness path, 60 s", None, {}, ("spec", "containers", "app", "startupProbe"),
     {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 1, "failureThreshold": 60}),
    ("startupProbe passes", app_with(startupProbe={"tcpSocket": {"port": 8080}}), {},
     ("spec", "containers", "app", "startupProbe"), {"tcpSocket": {"port": 8080}}),
    ("other ports kept, http added", app_with(ports=[{"name": "metrics", "containerPort": 9090}]), {},
     ("spec", "containers", "app", "ports"), [HTTP, {"name": "metrics", "containerPort": 9090}]),
    ("own http port wins", app_with(ports=[{"name": "http", "containerPort": 8080}]), {},
     ("spec", "containers", "app", "ports"), [{"name": "http", "containerPort": 8080}]),
    ("command, envFrom, mounts pass", app_with(command=["serve"], envFrom=[{"secretRef": {"name": "db"}}]), {},
     ("spec", "containers", "app", "envFrom"), [{"secretRef": {"name": "db"}}]),
    ("grace set", {"spec": {"terminationGracePeriodSeconds": 60}}, {}, ("spec", "terminationGracePeriodSeconds"),
     60),
    ("pod fields pass", {"spec": {"serviceAccountName": "sa", "nodeSelector": {"disk": "ssd"}}}, {},
     ("spec", "nodeSelector"), {"disk": "ssd"}),
    # the track on top of the template
    ("track image wins", app_with(image="other:9"), {}, ("spec", "containers", "app", "image"), "img:1"),
    ("track env over template env", app_with(env=[{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]), {},
     ("spec", "containers", "app", "env"),
     [{"name": "A", "value": "1"}, {"name": "B", "value": "3"}, {"name": "C", "value": "4"}]),
    ("track resources merged over template's",
     app_with(resources={"requests": {"cpu": "100m"}, "limits": {"memory": "1Gi", "cpu": "1"}}), {},
     ("spec", "containers", "app", "resources"),
     {"requests": {"cpu": "100m"}, "limits": {"memory": "128Mi", "cpu": "1"}}),
    # other containers
    ("sidecar passes unchanged", {"spec": {"containers": [{"name": "app"}, SIDECAR]}}, {},
     ("spec", "containers", "proxy"), SIDECAR),
    ("initContainers pass unchanged", {"spec": {"initContainers": [INIT]}}, {}, ("spec", "initContainers"), [INIT]),
    # labels and annotations
    ("template labels added", {"metadata": {"labels": {"team": "a"}}}, {}, ("metadata", "labels", "team"), "a"),
    ("own labels win", {"metadata": {"labels": {"microservice-operator.io/track": "x"}}}, {},
     ("metadata", "labels", "microservice-operator.io/track"), "v1"),
    ("annotations pass", {"metadata": {"annotations": {"prometheus.io/scrape": "true"}}}, {},
     ("metadata", "annotations"), {"prometheus.io/scrape": "true"}),
    # graceful exit
    ("preStop sleep set", None, {"shutdown": {"preStopSleepSeconds": 10}}, ("spec", "containers", "app", "lifecycle"),
     {"preStop": {"sleep": {"seconds": 10}}}),
    ("grace follows the sleep", None, {"shutdown": {"preStopSleepSeconds": 10}},
     ("spec", "terminationGracePeriodSeconds"), 40),
    ("sleep 0: grace 30", None, {"shutdown": {"preStopSleepSeconds": 0}}, ("spec", "terminationGracePeriodSeconds"),
     30),
    ("template preStop wins", app_with(lifecycle={"preStop": {"exec": {"command": ["drain"]}}}), {},
     ("spec", "containers", "app", "lifecycle"), {"preStop": {"exec": {"command": ["drain"]}}}),
    ("exec preStop: grace 30", app_with(lifecycle={"preStop": {"exec": {"command": ["drain"]}}}), {},
     ("spec", "terminationGracePeriodSeconds"), 30),
    ("template sleep: grace follows", app_with(lifecycle={"preStop": {"sleep": {"seconds": 20}}}), {},
     ("spec", "terminationGracePeriodSeconds"), 50),
    ("postStart kept, preStop added", app_with(lifecycle={"postStart": {"exec": {"command": ["warm"]}}}), {},
     ("spec", "containers", "app", "lifecycle"),
     {"postStart": {"exec": {"command": ["warm"]}}, "preStop": {"sleep": {"seconds": 5}}}),
]


@pytest.mark.parametrize(("template", "spec", "path", "expected"), [c[1:] for c in MERGES], ids=[c[0] for c in MERGES])
def test_merge_rules(template: dict[str, Any] | None, spec: dict[str, Any], path: tuple[str, ...],
                     expected: Any) -> None:
    assert at(pod_template(template, **spec), *path) == expected


@pytest.mark.parametrize(("containers", "names"), [
    ([SIDECAR], ["app", "proxy"]),  # the app container is added first when absent
    ([SIDECAR, {"name": "app"}], ["proxy", "app"]),  # and keeps its place when present
    ([], ["app"]),
], ids=["added first", "keeps its place", "no containers"])
def test_the_app_container_is_found_or_created(containers: list[dict[str, Any]], names: list[str]) -> None:
    built = pod_template({"spec": {"containers": containers}})
    assert [c["name"] for c in built["spec"]["containers"]] == names
    assert at(built, "spec", "containers", "app", "image") == "img:1"


def test_sleep_0_leaves_no_hook_and_not_restricted_leaves_no_security() -> None:
    app = at(pod_template(shutdown={"preStopSleepSeconds": 0}, restrictedSecurityContext=False),
             "spec", "containers", "app")
    assert "lifecycle" not in app and "securityContext" not in app


def test_the_template_object_is_not_changed_by_building() -> None:
    template = app_with(env=[{"name": "A", "value": "1"}], securityContext={"runAsUser": 7})
    ms = Microservice.model_validate({"name": "user", "namespace": "shop", "spec": spec_with(template)})
    before = ms.model_dump()
    for _ in range(2):
        build_deployment(ms, ms.spec.tracks[0], 1)
    assert ms.model_dump() == before


def invalid_message(**spec: Any) -> str:
    body = {"metadata": {"name": "user", "namespace": "shop"}, "spec": {"tracks": [TRACK], **spec}}
    result = plan(body, Observed(), NOW)
    assert result.invalid and result.apply == []
    message: str = result.status["conditions"][0]["message"]
    return message


REFUSED: list[tuple[str, dict[str, Any], str]] = [
    ("containers not a list", {"template": {"spec": {"containers": "app"}}},
     "spec.template.spec.containers: Input should be a valid list"),
    ("container not an object", {"template": {"spec": {"containers": ["app"]}}},
     "spec.template.spec.containers[0]: Input should be a valid dictionary"),
    ("container without a name", {"template": {"spec": {"containers": [{"image": "x"}]}}},
     "spec.template.spec.containers[0].name: Field required"),
    ("duplicate containers", {"template": {"spec": {"containers": [{"name": "app"}, {"name": "app"}]}}},
     "spec.template.spec.containers: duplicate container name(s) app"),
    ("init container named like a container",
     {"template": {"spec": {"initContainers": [{"name": "app"}], "containers": [{"name": "app"}]}}},
     "spec.template.spec.containers: duplicate container name(s) app"),
    ("duplicate init containers", {"template": {"spec": {"initContainers": [INIT, INIT]}}},
     "spec.template.spec.initContainers: duplicate container name(s) migrate"),
    ("app env not a list", {"template": app_with(env={"A": "1"})},
     "spec.template.spec.containers[0].env: Input should be a valid list"),
    ("spec.port under another name", {"template": app_with(ports=[{"name": "web", "containerPort": 8080}])},
     "spec.template.spec.containers[app].ports: the port on spec.port (8080) must be named http"),
    ("grace shorter than the preStop", {"template": {"spec": {"terminationGracePeriodSeconds": 3}}},
     "spec.template.spec.terminationGracePeriodSeconds: 3 is shorter than the app container's preStop sleep (5 s)"),
    ("negative grace", {"template": {"spec": {"terminationGracePeriodSeconds": -1}}},
     "spec.template.spec.terminationGracePeriodSeconds: Input should be greater than or equal to 0"),
    ("pod spec not an object", {"template": {"spec": ["x"]}}, "spec.template.spec: Input should be"),
    ("metadata beyond labels and annotations", {"template": {"metadata": {"name": "x"}}},
     "spec.template.metadata.name: Extra inputs are not permitted"),
    ("label value not a string", {"template": {"metadata": {"labels": {"tier": 1}}}},
     "spec.template.metadata.labels.tier: Input should be a valid string"),
    ("negative preStop sleep", {"shutdown": {"preStopSleepSeconds": -1}},
     "spec.shutdown.preStopSleepSeconds: Input should be greater than or equal to 0"),
]


@pytest.mark.parametrize(("spec", "expected"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_bad_templates_are_refused_naming_the_field(spec: dict[str, Any], expected: str) -> None:
    assert expected in invalid_message(**spec)


def test_a_shorter_grace_is_fine_without_the_hook() -> None:
    built = pod_template({"spec": {"terminationGracePeriodSeconds": 3}}, shutdown={"preStopSleepSeconds": 0})
    assert built["spec"]["terminationGracePeriodSeconds"] == 3


@pytest.mark.parametrize("manifest", ["user.yaml", "order.yaml"])
def test_sample_deployments_have_a_read_only_root_and_a_writable_tmp(manifest: str) -> None:
    body = yaml.safe_load((ROOT / "samples" / "manifests" / manifest).read_text())
    deployments = [o for o in plan(body, Observed(), NOW).apply if o["kind"] == "Deployment"]
    assert len(deployments) == 2
    for deployment in deployments:
        pod = deployment["spec"]["template"]["spec"]
        app = at(pod, "containers", "app")
        assert app["securityContext"]["readOnlyRootFilesystem"] is True
        assert app["securityContext"]["allowPrivilegeEscalation"] is False
        [mount] = [m for m in app["volumeMounts"] if m["mountPath"] == "/tmp"]
        assert "emptyDir" in at(pod, "volumes", mount["name"])
        assert pod["automountServiceAccountToken"] is False
        assert app["lifecycle"] == {"preStop": {"sleep": {"seconds": 5}}} and pod["terminationGracePeriodSeconds"] == 35


def test_a_converged_templated_object_plans_nothing() -> None:
    """The watch cache keeps the whole pod spec, so the server's defaults do not look like drift."""
    body = {**yaml.safe_load((ROOT / "samples" / "manifests" / "user.yaml").read_text()),
            "metadata": {"name": "user", "namespace": "shop", "uid": "u1", "generation": 1}}
    first = plan(body, Observed(), NOW)
    observed = Observed()
    for obj in first.apply:
        live = copy.deepcopy(obj)
        if obj["kind"] == "Deployment":
            pod = live["spec"]["template"]["spec"]
            pod.update(dnsPolicy="ClusterFirst", schedulerName="default-scheduler")
            pod["containers"][0]["terminationMessagePath"] = "/dev/termination-log"
            observed.deployments[obj["metadata"]["labels"]["microservice-operator.io/track"]] = project(
                live, DEPLOYMENT)
        else:
            observed.services[obj["metadata"]["name"]] = live
    assert plan({**body, "status": first.status}, observed, NOW).apply == []
