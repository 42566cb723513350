"""crds/microservices.yaml is the source of truth; the pydantic models must mirror it exactly."""

from __future__ import annotations

import enum
import json
import types
import typing
from pathlib import Path
from typing import Any

import annotated_types
import pytest
import yaml
from microservice_operator import api
from pydantic import BaseModel
from pydantic.fields import FieldInfo

CRD = yaml.safe_load((Path(__file__).resolve().parents[2] / "crds" / "microservices.yaml").read_text())
SCHEMA = CRD["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
PRESERVE = "x-kubernetes-preserve-unknown-fields"
BOUNDS = {annotated_types.Ge: ("minimum", "ge"), annotated_types.Le: ("maximum", "le"),
          annotated_types.MinLen: ("minItems|minLength", "min_length"),
          annotated_types.MaxLen: ("maxItems|maxLength", "max_length")}


def _inner(annotation: Any) -> Any:
    """list[X] / X | None / Annotated[X, validator] -> X."""
    while typing.get_origin(annotation) in (list, typing.Union, types.UnionType, typing.Annotated):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        annotation = args[0]
    return annotation


def _default_problem(path: str, info: FieldInfo, prop: dict[str, Any]) -> str | None:
    if info.default_factory is not None:
        return None if prop.get("default") == {} else f"{path}: model defaults to an object, CRD does not"
    if info.is_required() or info.default is None:
        return None
    default = info.default.value if isinstance(info.default, enum.Enum) else info.default
    return None if prop.get("default") == default else f"{path}: default {default!r} in the model, " \
        f"{prop.get('default')!r} in the CRD"


def _bound_problems(path: str, info: FieldInfo, prop: dict[str, Any]) -> list[str]:
    problems = []
    for meta in info.metadata:
        for cls, (keys, attr) in BOUNDS.items():
            crd_value = next((prop[k] for k in keys.split("|") if k in prop), None)
            if isinstance(meta, cls) and crd_value != getattr(meta, attr):
                problems.append(f"{path}: {attr}={getattr(meta, attr)} in the model, {crd_value} in the CRD")
    return problems


def _opaque_problem(path: str, inner: Any, prop: dict[str, Any]) -> str | None:
    """A field the model keeps as a plain dict must not be pruned by the API server."""
    node = prop.get("items", prop)
    if typing.get_origin(inner) is not dict or node.get(PRESERVE) or "additionalProperties" in node:
        return None
    return f"{path}: a dict in the model, but the CRD prunes its unknown fields"


def _compare_field(path: str, info: FieldInfo, prop: dict[str, Any], problems: list[str]) -> None:
    inner = _inner(info.annotation)
    opaque_problem = _opaque_problem(path, inner, prop)
    problems += [opaque_problem] if opaque_problem else []
    is_enum = isinstance(inner, type) and issubclass(inner, enum.Enum)
    if is_enum and sorted(m.value for m in inner) != sorted(prop.get("enum", [])):
        problems.append(f"{path}: enum differs")
    default_problem = _default_problem(path, info, prop)
    problems += [default_problem] if default_problem else []
    problems += _bound_problems(path, info, prop)
    if isinstance(inner, type) and issubclass(inner, BaseModel):
        _compare_model(inner, prop.get("items", prop), path, problems)


def _compare_model(model: type[BaseModel], schema: dict[str, Any], path: str, problems: list[str]) -> None:
    """Same fields, required set, defaults and bounds.

    An open model (``extra="allow"``) mirrors a CRD node with x-kubernetes-preserve-unknown-fields:
    the CRD may describe more fields than the model types (they pass through the model as extras,
    e.g. the many PodSpec fields of spec.template.spec), but every model field must be in the CRD.
    """
    props = schema.get("properties", {})
    fields = {info.alias or name: info for name, info in model.model_fields.items()}
    is_open = model.model_config.get("extra") == "allow"
    if is_open != bool(schema.get(PRESERVE)):
        problems.append(f"{path}: extra={model.model_config.get('extra')} in the model, "
                        f"{PRESERVE}={schema.get(PRESERVE)} in the CRD")
    if set(fields) - set(props) or (set(props) - set(fields) and not is_open):
        problems.append(f"{path}: model has {sorted(set(fields) - set(props))}, "
                        f"CRD has {sorted(set(props) - set(fields))}")
    required = {alias for alias, info in fields.items() if info.is_required()}
    if required != set(schema.get("required", [])):
        problems.append(f"{path}: required {sorted(required)} in the model, {schema.get('required')} in the CRD")
    for alias, info in fields.items():
        if alias in props:
            _compare_field(f"{path}.{alias}", info, props[alias], problems)


@pytest.mark.parametrize(("model", "key"), [(api.MicroserviceSpec, "spec"), (api.MicroserviceStatus, "status")])
def test_models_mirror_the_crd(model: type[BaseModel], key: str) -> None:
    problems: list[str] = []
    _compare_model(model, SCHEMA["properties"][key], key, problems)
    assert problems == []


def _undocumented(schema: dict[str, Any], path: str) -> list[str]:
    missing = [] if schema.get("description") else [path]
    for name, prop in schema.get("properties", {}).items():
        if name != "metadata":
            missing += _undocumented(prop, f"{path}.{name}")
    if "items" in schema:
        missing += [m for m in _undocumented(schema["items"], f"{path}[]") if m != f"{path}[]"]
    return missing


def test_every_crd_field_is_documented_for_kubectl_explain() -> None:
    assert _undocumented(SCHEMA, "microservice") == []


def _pruned_under(schema: dict[str, Any], path: str, open_above: bool) -> list[str]:
    """Object nodes below a preserve-unknown-fields node that would still prune what they do not list.

    Pruning resumes in every object node that specifies its own properties, so each object node of an
    open subtree (spec.template.spec) must preserve unknown fields too, or be a string map.
    """
    is_object = schema.get("type") == "object" and "additionalProperties" not in schema
    found = [path] if open_above and is_object and not schema.get(PRESERVE) else []
    open_here = open_above or bool(schema.get(PRESERVE))
    for name, prop in schema.get("properties", {}).items():
        found += _pruned_under(prop, f"{path}.{name}", open_here)
    if "items" in schema:
        found += _pruned_under(schema["items"], f"{path}[]", open_here)
    return found


def test_open_subtrees_prune_nothing() -> None:
    assert _pruned_under(SCHEMA, "microservice", False) == []


def test_the_pod_template_is_explained_like_a_deployments() -> None:
    pod = SCHEMA["properties"]["spec"]["properties"]["template"]["properties"]["spec"]
    container = pod["properties"]["containers"]["items"]["properties"]
    assert {"name", "image", "command", "args", "env", "envFrom", "volumeMounts", "resources", "securityContext",
            "lifecycle", "startupProbe", "readinessProbe", "livenessProbe"} <= set(container)
    assert {"containers", "initContainers", "volumes", "serviceAccountName", "automountServiceAccountToken",
            "nodeSelector", "tolerations", "affinity", "topologySpreadConstraints", "imagePullSecrets",
            "securityContext", "terminationGracePeriodSeconds"} <= set(pod["properties"])
    assert pod["properties"]["initContainers"]["items"]["properties"] == container
    probes = [container[p]["properties"] for p in ("startupProbe", "readinessProbe", "livenessProbe")]
    assert {"httpGet", "tcpSocket", "exec", "grpc", "periodSeconds", "failureThreshold"} <= set(probes[0])
    assert probes[0] == probes[1] == probes[2]


def test_crd_fits_the_api_servers_limits() -> None:
    """A client-side `kubectl apply` copies the CRD (as JSON, the YAML anchor expanded) into an annotation,
    and annotations are limited to 256 KiB in all; etcd's limit, 1.5 MiB, is far above."""
    assert len(json.dumps(CRD, separators=(",", ":"))) < 256 * 1024


def test_crd_contract() -> None:
    version = CRD["spec"]["versions"][0]
    assert CRD["spec"]["group"] == "microservice-operator.io" and version["name"] == "v1alpha1"
    assert CRD["spec"]["names"]["shortNames"] == ["ms"] and CRD["spec"]["scope"] == "Namespaced"
    assert version["subresources"]["scale"] == {"specReplicasPath": ".spec.replicas",
                                                "statusReplicasPath": ".status.replicas",
                                                "labelSelectorPath": ".status.selector"}
    columns = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}
    assert columns == {"Replicas": ".spec.replicas", "Ready": ".status.readyReplicas", "Weights": ".status.weights",
                       "Phase": ".status.phase", "Age": ".metadata.creationTimestamp"}
