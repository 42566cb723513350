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


_MEBI = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024, "K": 1e3 / 2**20, "M": 1e6 / 2**20, "G": 1e9 / 2**20}


def _mib(quantity: str | int) -> float:
    """A Kubernetes memory quantity (128Mi, 1Gi, 200M, bytes) in MiB."""
    match = re.fullmatch(r"([0-9.]+)(Ki|Mi|Gi|K|M|G)?", str(quantity))
    assert match, f"unsupported memory quantity {quantity!r}"
    number, unit = match.groups()
    return float(number) * _MEBI[unit] if unit else float(number) / 2**20


def _benchmarked_peak_rss_mib() -> float:
    """The P3 peak RSS at 1,000 Microservices from the README's benchmark table (written by `make bench`)."""
    text = (ROOT / "README.md").read_text()
    table = text.split("<!-- bench:start -->", 1)[1].split("<!-- bench:end -->", 1)[0]
    (row,) = [line for line in table.splitlines() if line.startswith("| P3 operator peak RSS |")]
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    shown = re.fullmatch(r"([0-9.]+) MiB", cells[1])
    assert shown, row
    return max(float(shown.group(1)), float(cells[3]))  # the rounded figure and the exact one


def test_memory_limit_covers_the_benchmarked_peak_rss() -> None:
    """A future benchmark with a higher peak flags the chart: the limit keeps at least 1.25x the measured peak."""
    resources = yaml.safe_load((CHART / "values.yaml").read_text())["resources"]
    peak = _benchmarked_peak_rss_mib()
    assert 50 < peak < 1024  # parsed the table, not something else
    limit = _mib(resources["limits"]["memory"])
    assert limit >= 1.25 * peak, f"resources.limits.memory {limit:.0f} MiB < 1.25 x the benchmarked {peak:.0f} MiB"
    assert _mib(resources["requests"]["memory"]) <= limit


def test_resources_have_a_cpu_request_and_no_cpu_limit() -> None:
    """A CPU limit would throttle the reconcile bursts; the request reserves what the idle operator needs."""
    resources = yaml.safe_load((CHART / "values.yaml").read_text())["resources"]
    assert resources["requests"]["cpu"] == "100m" and "cpu" not in resources.get("limits", {})


def test_network_policy_is_off_by_default_and_admits_the_api_server_on_its_ports() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())["networkPolicy"]
    assert values["enabled"] is False
    assert values["apiServerCIDRs"] == ["0.0.0.0/0"] and values["apiServerPorts"] == [443, 6443]
    assert values["metricsFrom"] == [{"podSelector": {}}]  # the release namespace only
    props = json.loads((CHART / "values.schema.json").read_text())["properties"]["networkPolicy"]["properties"]
    assert props["apiServerCIDRs"]["minItems"] == 1 and props["apiServerPorts"]["minItems"] == 1
