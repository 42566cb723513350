from __future__ import annotations

import socket

import pytest
from fastapi.testclient import TestClient
from user_service.app import create_app
from user_service.store import MemoryStore


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> TestClient:
    monkeypatch.setenv("TRACK", "v2")
    monkeypatch.setenv("VERSION", "1.5.0")
    return TestClient(create_app(MemoryStore()))


def test_list_get_and_create(client: TestClient) -> None:
    users = client.get("/users").json()
    assert [u["name"] for u in users][:1] == ["Ada Lovelace"]
    created = client.post("/users", json={"name": "Edsger Dijkstra", "email": "ewd@example.com"})
    assert created.status_code == 201
    user = created.json()
    assert client.get(f"/users/{user['id']}").json() == user


def test_every_response_says_which_track_and_pod_served_it(client: TestClient) -> None:
    assert client.get("/users").headers["X-Served-By"] == "v2/1.5.0"
    missing = client.get("/users/999")
    assert missing.headers["X-Served-By"] == "v2/1.5.0"
    assert missing.headers["X-Served-By-Pod"] == socket.gethostname()


@pytest.mark.parametrize(("body", "field"), [
    ({"email": "a@b.co"}, "name"),
    ({"name": "", "email": "a@b.co"}, "name"),
    ({"name": "X", "email": "not-an-email"}, "email"),
])
def test_bad_input_is_422_naming_the_field(client: TestClient, body: dict[str, str], field: str) -> None:
    response = client.post("/users", json=body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", field]


def test_unknown_id_is_404(client: TestClient) -> None:
    response = client.get("/users/999")
    assert response.status_code == 404 and "999" in response.json()["detail"]


def test_health_readiness_and_metrics(client: TestClient) -> None:
    assert client.get("/healthz").status_code == 200 and client.get("/readyz").status_code == 200
    client.get("/users")
    metrics = client.get("/metrics").text
    assert 'http_requests_total{method="GET",route="/users",status="200"}' in metrics
    assert "http_request_duration_seconds_bucket" in metrics
