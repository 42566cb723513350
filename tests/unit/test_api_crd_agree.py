"""crds/microservices.yaml is the source of truth; the pydantic models must mirror it exactly."""

from __future__ import annotations

import enum
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
BOUNDS = {annotated_types.Ge: ("minimum", "ge"), annotated_types.Le: ("maximum", "le"),
          annotated_types.MinLen: ("minItems|minLength", "min_length"),
          annotated_types.MaxLen: ("maxItems|maxLength", "max_length")}


def _inner(annotation: Any) -> Any:
    """list[X] / X | None -> X."""
    while typing.get_origin(annotation) in (list, typing.Union, types.UnionType):
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


def _compare_field(path: str, info: FieldInfo, prop: dict[str, Any], problems: list[str]) -> None:
    inner = _inner(info.annotation)
    is_enum = isinstance(inner, type) and issubclass(inner, enum.Enum)
    if is_enum and sorted(m.value for m in inner) != sorted(prop.get("enum", [])):
        problems.append(f"{path}: enum differs")
    default_problem = _default_problem(path, info, prop)
    problems += [default_problem] if default_problem else []
    problems += _bound_problems(path, info, prop)
    if isinstance(inner, type) and issubclass(inner, BaseModel):
        _compare_model(inner, prop.get("items", prop), path, problems)


def _compare_model(model: type[BaseModel], schema: dict[str, Any], path: str, problems: list[str]) -> None:
    props = schema.get("properties", {})
    fields = {info.alias or name: info for name, info in model.model_fields.items()}
    if set(fields) != set(props):
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
