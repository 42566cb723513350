from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager

import httpx
import pytest
import sample_common
from fastapi.testclient import TestClient
from order_service.app import create_app
from order_service.users import UserClient
from user_service.app import create_app as create_user_app
from user_service.store import SEED_BALANCE, MemoryStore

from tests.conftest import free_port
from tests.support.served import serve_in_thread


def user_service(port: int) -> AbstractContextManager[str]:
    """A real user-service (in memory) on 127.0.0.1:``port``."""
    return serve_in_thread(create_user_app(MemoryStore()), port)


@pytest.fixture
def user_service_url() -> Iterator[str]:
    with user_service(free_port()) as url:
        yield url


@pytest.fixture
def client(user_service_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(UserClient(base_url=user_service_url))) as client:
        yield client


def test_an_order_debits_the_user_and_is_confirmed(client: TestClient, user_service_url: str) -> None:
    created = client.post("/orders", json={"userId": 1, "item": "book", "quantity": 2, "unitPrice": 1250})
    assert created.status_code == 201
    order = created.json()
    assert order == {"id": order["id"], "userId": 1, "item": "book", "quantity": 2, "unitPrice": 1250,
                     "idempotencyKey": order["idempotencyKey"], "amount": 2500, "status": "CONFIRMED", "reason": None}
    assert client.get(f"/orders/{order['id']}").json() == order
    assert httpx.get(f"{user_service_url}/users/1").json()["balance"] == SEED_BALANCE - 2500


@pytest.mark.parametrize(("body", "reason"), [
    ({"userId": 999, "item": "book"}, "no such user"),
    ({"userId": 3, "item": "yacht", "quantity": 1000, "unitPrice": 1_000_000}, "insufficient balance"),
])
def test_a_refused_debit_rejects_the_order_and_keeps_it(client: TestClient, body: dict[str, object],
                                                        reason: str) -> None:
    response = client.post("/orders", json=body)
    assert response.status_code == 422
    order = response.json()
    assert order["status"] == "REJECTED" and order["reason"] == reason
    assert client.get(f"/orders/{order['id']}").json() == order


@pytest.mark.parametrize(("body", "field"), [
    ({"item": "book"}, "userId"), ({"userId": 1, "item": ""}, "item"), ({"userId": 1, "item": "b", "quantity": 0},
                                                                         "quantity"),
])
def test_bad_input_is_422_naming_the_field(client: TestClient, body: dict[str, object], field: str) -> None:
    response = client.post("/orders", json=body)
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", field]


def test_unknown_order_is_404(client: TestClient) -> None:
    assert client.get("/orders/424242").status_code == 404


def test_same_idempotency_key_twice_creates_one_order_and_one_debit(client: TestClient, user_service_url: str,
                                                                     ) -> None:
    body = {"userId": 2, "item": "pen", "quantity": 3}
    first = client.post("/orders", json=body, headers={"Idempotency-Key": "k-123"})
    second = client.post("/orders", json=body, headers={"Idempotency-Key": "k-123"})
    assert first.status_code == second.status_code == 201 and first.json() == second.json()
    third = client.post("/orders", json=body, headers={"Idempotency-Key": "k-456"})
    assert third.json()["id"] == first.json()["id"] + 1
    reuse = client.post("/orders", json={**body, "quantity": 4}, headers={"Idempotency-Key": "k-123"})
    assert reuse.status_code == 409
    assert httpx.get(f"{user_service_url}/users/2").json()["balance"] == SEED_BALANCE - 2 * 300


def test_an_unknown_outcome_is_pending_and_the_recovery_loop_settles_it() -> None:
    port = free_port()  # user-service is down: nothing listens here yet
    app = create_app(UserClient(base_url=f"http://127.0.0.1:{port}", timeout=0.3, retries=1), recovery_seconds=0.2)
    with TestClient(app) as client:
        response = client.post("/orders", json={"userId": 1, "item": "book"}, headers={"X-Request-ID": "rid-1"})
        assert response.status_code == 202 and response.json()["status"] == "PENDING"
        assert response.headers["X-Request-ID"] == "rid-1"
        order_id = response.json()["id"]
        with user_service(port) as url:
            deadline = time.monotonic() + 20
            while client.get(f"/orders/{order_id}").json()["status"] == "PENDING":
                assert time.monotonic() < deadline, "the recovery loop did not settle the order"
                time.sleep(0.1)
            assert client.get(f"/orders/{order_id}").json()["status"] == "CONFIRMED"
            assert httpx.get(f"{url}/users/1").json()["balance"] == SEED_BALANCE - 100
        metrics = client.get("/metrics").text
    assert 'orders_total{status="PENDING"}' in metrics and 'orders_total{status="CONFIRMED"} 1.0' in metrics
    assert "debit_retries_total" in metrics and _sample(metrics, "debit_retries_total") >= 2


def _sample(metrics: str, name: str) -> float:
    return next(float(line.split()[-1]) for line in metrics.splitlines() if line.startswith(name + " "))


def test_a_hanging_user_service_leaves_the_order_pending_within_the_timeout() -> None:
    with socket.socket() as silent:  # accepts connections, never answers: the timeout must fire
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        port = silent.getsockname()[1]
        hanging = TestClient(create_app(UserClient(base_url=f"http://127.0.0.1:{port}", timeout=0.3, retries=1)))
        started = time.monotonic()
        response = hanging.post("/orders", json={"userId": 1, "item": "book"})
        elapsed = time.monotonic() - started
    assert response.status_code == 202 and response.json()["status"] == "PENDING"
    assert elapsed < 2.5  # bounded: two 0.3 s attempts and a backoff, with slack for a loaded machine


def test_readiness_does_not_depend_on_user_service() -> None:
    down = TestClient(create_app(UserClient(base_url=f"http://127.0.0.1:{free_port()}", timeout=0.2)))
    assert down.get("/readyz").status_code == 200


def test_the_debit_carries_the_key_and_the_request_id() -> None:
    seen: list[httpx.Headers] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers)
        return httpx.Response(201, json={})

    async def call() -> str:
        token = sample_common._REQUEST_ID.set("rid-7")
        try:
            return await UserClient(base_url="http://user").debit(1, "order-9", 100,
                                                                   transport=httpx.MockTransport(answer))
        finally:
            sample_common._REQUEST_ID.reset(token)

    assert asyncio.run(call()) == "applied"
    assert seen[0]["Idempotency-Key"] == "order-9" and seen[0]["X-Request-ID"] == "rid-7"
