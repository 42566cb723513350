"""Static checks of the Helm chart: CRDs in step with crds/, every value documented and in the schema."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "microservice-operator"


def test_chart_crds_are_the_top_level_crds() -> None:
    top = {p.name: p.read_text() for p in (ROOT / "crds").glob("*.yaml")}
    chart = {p.name: p.read_text() for p in (CHART / "crds").glob("*.yaml")}
    assert chart == top, "charts/microservice-operator/crds/ drifted from crds/: copy crds/*.yaml into it"


OPAQUE = {"resources", "podSecurityContext", "securityContext", "affinity", "nodeSelector", "podAnnotations",
          "podLabels", "labels", "annotations"}  # maps passed through whole: one @param each


def _leaves(values: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted paths of the values, descending into nested settings but not into opaque maps."""
    out = []
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value and key not in OPAQUE:
            out += _leaves(value, f"{path}.")
        else:
            out.append(path)
    return out


def test_every_value_has_a_param_comment() -> None:
    text = (CHART / "values.yaml").read_text()
    documented = set(re.findall(r"## @param (\S+)", text))
    values = yaml.safe_load(text)
    missing = [p for p in _leaves(values) if p not in documented]
    assert missing == []


def test_schema_declares_every_top_level_value() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert set(values) <= set(schema["properties"]) and schema["additionalProperties"] is False


def test_schema_declares_every_nested_value_of_a_closed_object() -> None:
    """A value under an object with additionalProperties false (e.g. podDisruptionBudget.*) is in its schema."""
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    undeclared = []
    for path in _leaves(values):
        node = schema
        for key in path.split("."):
            if key in node.get("properties", {}):
                node = node["properties"][key]
            else:
                if node.get("additionalProperties") is False:
                    undeclared.append(path)
                break
    assert undeclared == []


def test_pod_disruption_budget_defaults_never_block_a_drain() -> None:
    """maxUnavailable 1 lets a node with the only replica drain; minAvailable is the exclusive alternative."""
    pdb = yaml.safe_load((CHART / "values.yaml").read_text())["podDisruptionBudget"]
    assert pdb["maxUnavailable"] == 1 and pdb["minAvailable"] is None
    props = json.loads((CHART / "values.schema.json").read_text())["properties"]["podDisruptionBudget"]["properties"]
    assert props["maxUnavailable"] == props["minAvailable"]
    assert {"type": "null"} in props["minAvailable"]["oneOf"]


def test_topology_spread_constraints_default_to_empty() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    schema = json.loads((CHART / "values.schema.json").read_text())["properties"]["topologySpreadConstraints"]
    assert values["topologySpreadConstraints"] == [] and schema["type"] == "array"
