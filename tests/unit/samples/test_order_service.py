from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from fastapi.testclient import TestClient
from order_service.app import create_app
from order_service.users import UserClient
from user_service.app import create_app as create_user_app
from user_service.store import MemoryStore

from tests.conftest import free_port


@pytest.fixture(scope="module")
def user_service_url() -> Iterator[str]:
    """A real user-service on 127.0.0.1, served by uvicorn in a thread."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_user_app(MemoryStore()), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=5)


@pytest.fixture
def client(user_service_url: str) -> TestClient:
    return TestClient(create_app(UserClient(base_url=user_service_url)))


def test_create_and_read_an_order(client: TestClient) -> None:
    created = client.post("/orders", json={"userId": 1, "item": "book", "quantity": 2})
    assert created.status_code == 201
    order = created.json()
    assert order == {"id": order["id"], "userId": 1, "item": "book", "quantity": 2}
    assert client.get(f"/orders/{order['id']}").json() == order


def test_unknown_user_is_422_naming_user_id(client: TestClient) -> None:
    response = client.post("/orders", json={"userId": 999, "item": "book"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "userId"]


@pytest.mark.parametrize(("body", "field"), [
    ({"item": "book"}, "userId"), ({"userId": 1, "item": ""}, "item"), ({"userId": 1, "item": "b", "quantity": 0},
                                                                         "quantity"),
])
def test_bad_input_is_422_naming_the_field(client: TestClient, body: dict[str, object], field: str) -> None:
    response = client.post("/orders", json=body)
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", field]


def test_unknown_order_is_404(client: TestClient) -> None:
    assert client.get("/orders/424242").status_code == 404


def test_same_idempotency_key_twice_creates_one_order(client: TestClient) -> None:
    body = {"userId": 2, "item": "pen", "quantity": 3}
    first = client.post("/orders", json=body, headers={"Idempotency-Key": "k-123"})
    second = client.post("/orders", json=body, headers={"Idempotency-Key": "k-123"})
    assert first.status_code == second.status_code == 201 and first.json() == second.json()
    third = client.post("/orders", json=body, headers={"Idempotency-Key": "k-456"})
    assert third.json()["id"] == first.json()["id"] + 1
    reuse = client.post("/orders", json={**body, "quantity": 4}, headers={"Idempotency-Key": "k-123"})
    assert reuse.status_code == 409


def test_user_service_down_is_a_503_within_the_timeout() -> None:
    refused = TestClient(create_app(UserClient(base_url=f"http://127.0.0.1:{free_port()}", timeout=0.3)))
    response = refused.post("/orders", json={"userId": 1, "item": "book"})
    assert response.status_code == 503 and "unavailable" in response.json()["detail"]
    with socket.socket() as silent:  # accepts connections, never answers: the timeout must fire
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        port = silent.getsockname()[1]
        hanging = TestClient(create_app(UserClient(base_url=f"http://127.0.0.1:{port}", timeout=0.3, retries=1)))
        started = time.monotonic()
        response = hanging.post("/orders", json={"userId": 1, "item": "book"})
        elapsed = time.monotonic() - started
    assert response.status_code == 503 and response.headers["Retry-After"] == "1"
    assert elapsed < 2.5  # bounded: two 0.3 s attempts and a backoff, with slack for a loaded machine


def test_readiness_does_not_depend_on_user_service() -> None:
    down = TestClient(create_app(UserClient(base_url=f"http://127.0.0.1:{free_port()}", timeout=0.2)))
    assert down.get("/readyz").status_code == 200
