"""The operator's own API client (microservice_operator.k8s) against the real API server.

It replaces the official ``kubernetes`` package in the operator, so its login paths are proven here:
kubeconfig files with certificate paths, with embedded data, and with a bearer token that is
replaced while the client runs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from microservice_operator.k8s import ApiError, Kube, load_client

from tests.support import kube

pytestmark = pytest.mark.cluster


@pytest.fixture
def kubeconfig(monkeypatch: pytest.MonkeyPatch, cluster: object) -> Path:
    monkeypatch.setenv("KUBECONFIG", str(kube.KUBECONFIG))
    return kube.KUBECONFIG


def service(namespace: str, **spec: object) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "probe", "namespace": namespace},
            "spec": {"ports": [{"port": 80}], **spec}}


def test_applies_as_the_operator_and_reports_the_servers_message(kubeconfig: Path, namespace: str) -> None:
    client = Kube(load_client(pool_size=2))
    applied = client.apply(service(namespace))
    assert applied["metadata"]["uid"] and applied["spec"]["ports"][0]["port"] == 80
    managers = [m["manager"] for m in applied["metadata"]["managedFields"]]
    assert managers == ["microservice-operator"]
    with pytest.raises(ApiError) as err:
        client.apply(service(namespace, type="Bogus"))
    assert err.value.status == 422 and "spec.type" in err.value.message
    assert str(err.value).startswith("HTTP 422: ")
    assert client.serves("apps/v1", "Deployment") and not client.serves("nothing.example.com/v1", "Thing")


def test_logs_in_with_embedded_certificates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            kubeconfig: Path) -> None:
    flat = kube.portable_kubeconfig()
    assert "client-certificate-data" in flat["users"][0]["user"]
    assert "certificate-authority-data" in flat["clusters"][0]["cluster"]
    (tmp_path / "flat").write_text(json.dumps(flat))
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "flat"))
    assert load_client(pool_size=1).request("GET", "/version")["gitVersion"].startswith("v1.")


def test_reads_a_replaced_token_after_a_401(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            kubeconfig: Path, namespace: str) -> None:
    kube.kubectl("create", "serviceaccount", "reader", "-n", namespace)
    kube.kubectl("create", "rolebinding", "reader", "-n", namespace, "--clusterrole=view",
                 f"--serviceaccount={namespace}:reader")
    token = kube.kubectl("create", "token", "reader", "-n", namespace).stdout.strip()
    path = kube.write_token_kubeconfig(tmp_path / "token", "not-a-valid-token")
    monkeypatch.setenv("KUBECONFIG", str(path))
    client = load_client(pool_size=1)
    with pytest.raises(ApiError) as err:
        client.request("GET", f"/api/v1/namespaces/{namespace}/services")
    assert err.value.status == 401
    kube.write_token_kubeconfig(path, token)  # as the kubelet rotates a projected token
    assert client.request("GET", f"/api/v1/namespaces/{namespace}/services")["items"] == []
    with pytest.raises(ApiError) as err:
        client.request("GET", "/api/v1/namespaces/kube-system/secrets")
    assert err.value.status == 403 and "reader" in err.value.message
