"""The admission rules of crds/microservices.yaml (images, env names, ports, quantities, requests within limits)
and their mirror in the models, which re-check objects that never went through the CRD's rules.

tests/integration/test_operator_core.py proves the API server enforces the CRD's side.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from microservice_operator import api
from microservice_operator.api import Microservice
from microservice_operator.plan import validation_message
from microservice_operator.quantity import parse_quantity
from pydantic import ValidationError

CRD = yaml.safe_load((Path(__file__).resolve().parents[2] / "crds" / "microservices.yaml").read_text())
SPEC = CRD["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
TRACK = SPEC["properties"]["tracks"]["items"]["properties"]
POD = SPEC["properties"]["template"]["properties"]["spec"]["properties"]
CONTAINER = POD["containers"]["items"]["properties"]


@pytest.mark.parametrize(("given", "value"), [
    ("500m", Decimal("0.5")), ("1Gi", Decimal(2**30)), ("2", Decimal(2)), (2, Decimal(2)), ("1.5Ki", Decimal(1536)),
    (".5", Decimal("0.5")), ("1.", Decimal(1)), ("1e3", Decimal(1000)), ("1E", Decimal(10**18)), ("+3k", Decimal(3000)),
    ("1e-3", Decimal("0.001")), ("100n", Decimal("1E-7")), ("-1", Decimal(-1)), (0.5, Decimal("0.5")),
    ("lots", None), ("1 Gi", None), ("", None), ("1e", None), ("1GB", None), ("0x10", None), (True, None), (None, None),
])
def test_quantities_parse_as_kubernetes_parses_them(given: object, value: Decimal | None) -> None:
    assert parse_quantity(given) == value


def test_the_models_use_the_crds_patterns_and_bounds() -> None:
    quantity = TRACK["resources"]["properties"]["requests"]["additionalProperties"]
    assert TRACK["image"]["pattern"] == CONTAINER["image"]["pattern"] == api.IMAGE_REFERENCE
    env_names = [TRACK["env"]["items"]["properties"]["name"], CONTAINER["env"]["items"]["properties"]["name"]]
    assert [n["pattern"] for n in env_names] == [api.ENV_NAME.pattern] * 2
    port = CONTAINER["ports"]["items"]["properties"]
    assert port["name"]["pattern"] == api.IANA_PORT_NAME.pattern and port["name"]["maxLength"] == api.MAX_PORT_NAME
    assert port["protocol"]["enum"] == list(api.PROTOCOLS)
    assert (port["containerPort"]["minimum"], port["containerPort"]["maximum"]) == (1, api.MAX_PORT)
    assert (port["hostPort"]["minimum"], port["hostPort"]["maximum"]) == (0, api.MAX_PORT)
    assert quantity["x-kubernetes-int-or-string"] and quantity["maxLength"] == api.MAX_QUANTITY
    for resources in (TRACK["resources"], CONTAINER["resources"]):
        assert [resources["properties"][k]["maxProperties"] for k in ("requests", "limits")] == [api.MAX_RESOURCES] * 2
        assert "requests.all(" in resources["x-kubernetes-validations"][0]["rule"]


def test_every_probe_port_is_a_port_number_or_a_name() -> None:
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        handlers = CONTAINER[probe]["properties"]
        for handler in ("httpGet", "tcpSocket", "grpc"):
            port = handlers[handler]["properties"]["port"]
            assert (port["minimum"], port["maximum"]) == (1, api.MAX_PORT), (probe, handler)


def _message(**spec: Any) -> str:
    body = {"name": "user", "namespace": "shop", "spec": {"tracks": [track()], **spec}}
    with pytest.raises(ValidationError) as err:
        Microservice.model_validate(body)
    return validation_message(err.value)


def track(**fields: Any) -> dict[str, Any]:
    return {"name": "v1", "image": "img:1", "weight": 100, **fields}


def app(**fields: Any) -> dict[str, Any]:
    return {"spec": {"containers": [{"name": "app", **fields}]}}


REFUSED: list[tuple[str, dict[str, Any], str]] = [
    ("image with a space", {"tracks": [track(image="img 1")]}, "spec.tracks[0].image: String should match pattern"),
    ("empty template image", {"template": app(image="")}, "spec.template.spec.containers[0].image: String should"),
    ("sidecar without an image", {"template": {"spec": {"containers": [{"name": "app"}, {"name": "proxy"}]}}},
     "spec.template.spec.containers[1].image: Required value: every container but app"),
    ("init container without an image", {"template": {"spec": {"initContainers": [{"name": "migrate"}]}}},
     "spec.template.spec.initContainers[0].image: Required value: every init container needs an image"),
    ("container name not a DNS label", {"template": {"spec": {"containers": [{"name": "App"}]}}},
     "spec.template.spec.containers[0].name: String should match pattern"),
    ("env name with =", {"tracks": [track(env=[{"name": "A=B"}])]},
     "spec.tracks[0].env[0]: name: 'A=B' must consist of printable ASCII characters other than '='"),
    ("env name not ASCII", {"template": app(env=[{"name": "GRÜN"}])}, "spec.template.spec.containers[0].env[0]: name:"),
    ("env without a name", {"tracks": [track(env=[{"value": "1"}])]}, "spec.tracks[0].env[0]: name: Field required"),
    ("container port 0", {"template": app(ports=[{"containerPort": 0}])},
     "spec.template.spec.containers[0].ports[0]: containerPort: 0 must be from 1 to 65535"),
    ("container port 70000", {"template": app(ports=[{"name": "metrics", "containerPort": 70000}])},
     "spec.template.spec.containers[0].ports[0]: containerPort: 70000 must be from 1 to 65535"),
    ("port without a number", {"template": app(ports=[{"name": "metrics"}])},
     "spec.template.spec.containers[0].ports[0]: containerPort: Field required"),
    ("host port 70000", {"template": app(ports=[{"containerPort": 9000, "hostPort": 70000}])},
     "hostPort: 70000 must be from 0 to 65535"),
    ("port name not an IANA name", {"template": app(ports=[{"containerPort": 9000, "name": "9000"}])},
     "name: '9000' must be an IANA service name"),
    ("port protocol", {"template": app(ports=[{"containerPort": 9000, "protocol": "HTTP"}])},
     "protocol: 'HTTP' must be one of TCP, UDP, SCTP"),
    ("probe port 0", {"template": app(readinessProbe={"httpGet": {"path": "/", "port": 0}})},
     "spec.template.spec.containers[0]: readinessProbe.httpGet.port: 0 must be from 1 to 65535"),
    ("startup probe port 70000", {"template": app(startupProbe={"tcpSocket": {"port": 70000}})},
     "startupProbe.tcpSocket.port: 70000 must be from 1 to 65535"),
    ("service port 70000", {"service": {"port": 70000}},
     "spec.service.port: Input should be less than or equal to 65535"),
    ("quantity lots", {"tracks": [track(resources={"requests": {"cpu": "lots"}})]},
     "spec.tracks[0].resources: requests.cpu: 'lots' must be a quantity of at least 0, such as 500m, 2 or 1Gi"),
    ("negative quantity", {"template": app(resources={"limits": {"memory": "-1Gi"}})},
     "spec.template.spec.containers[0].resources: limits.memory: '-1Gi' must be a quantity of at least 0"),
    ("quantity a bool", {"tracks": [track(resources={"limits": {"cpu": True}})]}, "limits.cpu: True must be"),
    ("requests not a map", {"tracks": [track(resources={"requests": "1"})]},
     "spec.tracks[0].resources: requests: must be a map of resource names to quantities"),
    ("request above limit", {"tracks": [track(resources={"requests": {"cpu": "1500m"}, "limits": {"cpu": 1}})]},
     "spec.tracks[0].resources: requests.cpu (1500m) is above limits.cpu (1)"),
    ("template request above limit", {"template": app(resources={"requests": {"memory": "2Gi"},
                                                                  "limits": {"memory": "1Gi"}})},
     "spec.template.spec.containers[0].resources: requests.memory (2Gi) is above limits.memory (1Gi)"),
    ("track request above the template's limit",
     {"tracks": [track(resources={"requests": {"cpu": "2"}})], "template": app(resources={"limits": {"cpu": "1"}})},
     "spec.tracks[0].resources: merged over spec.template's app container, requests.cpu 2 is above limits.cpu 1"),
    ("template request above the track's limit",
     {"tracks": [track(resources={"limits": {"memory": "64Mi"}})],
      "template": app(resources={"requests": {"memory": "128Mi"}})},
     "spec.tracks[0].resources: merged over spec.template's app container, requests.memory 128Mi is above "
     "limits.memory 64Mi"),
]


@pytest.mark.parametrize(("spec", "expected"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_the_models_refuse_what_admission_refuses_naming_the_field(spec: dict[str, Any], expected: str) -> None:
    assert expected in _message(**spec)


def test_good_values_pass_the_models() -> None:
    """The integration test's good object, and a JSON number quantity (the CRD wants it as a string)."""
    spec = {
        "tracks": [track(env=[{"name": "1ST_CHOICE"}, {"name": "Logging:LogLevel"}],
                         resources={"requests": {"cpu": "500m", "memory": "1Gi", "ephemeral-storage": "1.5Gi"},
                                    "limits": {"cpu": 1, "memory": "1Gi", "nvidia.com/gpu": 1}})],
        "template": {"spec": {
            "containers": [
                {"name": "app", "env": [{"name": "Logging__LogLevel"}, {"name": "my.setting-1"}],
                 "ports": [{"name": "metrics", "containerPort": 65535, "hostPort": 0, "protocol": "TCP"},
                           {"containerPort": 1, "protocol": "UDP"}],
                 "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http"}},
                 "livenessProbe": {"tcpSocket": {"port": 8080}},
                 "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                               "limits": {"cpu": "2", "memory": "2Gi"}}},
                {"name": "proxy", "image": "registry.example.com:5000/envoy@sha256:" + "0" * 64,
                 "resources": {"requests": {"cpu": 0.25, "memory": "64Mi"}, "limits": {"cpu": "250m"}}}],
            "initContainers": [{"name": "migrate", "image": "img:1"}]}},
    }
    ms = Microservice.model_validate({"name": "user", "namespace": "shop", "spec": spec})
    assert ms.spec.tracks[0].resources == spec["tracks"][0]["resources"]


def test_a_request_the_track_overrides_is_not_compared_with_the_templates_limit() -> None:
    """The merge is key by key: the track's own request and limit of cpu replace the template's."""
    spec = {"tracks": [track(resources={"requests": {"cpu": "2"}, "limits": {"cpu": "4"}})],
            "template": app(resources={"requests": {"cpu": "3"}, "limits": {"cpu": "3"}})}
    Microservice.model_validate({"name": "user", "namespace": "shop", "spec": spec})
