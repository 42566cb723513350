from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from microservice_operator.cli import RestartBudget, api_went_away, main

ROOT = Path(__file__).resolve().parents[2]


def test_render_prints_the_children_of_the_samples(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", "-f", str(ROOT / "samples" / "manifests" / "user.yaml")]) == 0
    docs = list(yaml.safe_load_all(capsys.readouterr().out))
    assert [(d["kind"], d["metadata"]["name"]) for d in docs] == [
        ("Service", "user"), ("Deployment", "user-v1"), ("Service", "user-v1"),
        ("Deployment", "user-v2"), ("Service", "user-v2")]
    assert [d["spec"]["replicas"] for d in docs if d["kind"] == "Deployment"] == [9, 1]
    assert all(d["metadata"]["namespace"] == "shop" for d in docs)


def test_render_names_the_bad_field_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: Microservice\nmetadata: {name: x}\nspec: {tracks: [{name: a, image: i, weight: 50}]}\n")
    assert main(["render", "-f", str(bad)]) == 1
    assert "spec.tracks: weights must sum to 100, found 50" in capsys.readouterr().err


def test_render_reports_an_unreadable_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", "-f", str(tmp_path / "missing.yaml")]) == 1
    assert "cannot read" in capsys.readouterr().err


def test_run_and_render_are_documented_in_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--namespace" in out and "--all-namespaces" in out and "--liveness" in out


def test_version_prints_the_package_version_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    from microservice_operator import __version__

    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"microservice-operator {__version__}\n"


@pytest.mark.parametrize("kubeconfig", ["missing", "no-context"])
def test_run_without_credentials_exits_1_naming_the_problem(
        kubeconfig: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "config"
    if kubeconfig == "no-context":
        path.write_text("apiVersion: v1\nkind: Config\nclusters: []\n")
    monkeypatch.setenv("KUBECONFIG", str(path))
    assert main(["run", "--metrics-port", "0"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: cannot log in to Kubernetes: ")
    assert str(path) in err if kubeconfig == "missing" else "context" in err.lower()


def test_restarts_are_bounded_per_window() -> None:
    budget = RestartBudget(limit=2, window=60.0)
    assert budget.allow(0.0) and budget.allow(1.0)
    assert not budget.allow(2.0)  # a third within the window: the process exits instead
    assert budget.allow(61.5)  # the first has left the window


def test_only_kopfs_404_counts_as_an_api_that_went_away() -> None:
    from kopf._cogs.clients.errors import APINotFoundError, APIServerError

    assert api_went_away(APINotFoundError({"message": "the server could not find the requested resource"},
                                          status=404, headers={}))
    assert not api_went_away(APIServerError({"message": "etcd timeout"}, status=500, headers={}))
    assert not api_went_away(LookupError("404"))
