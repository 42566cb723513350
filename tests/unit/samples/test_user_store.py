"""The user store's contract on both stores: in memory and on a real PostgreSQL server (127.0.0.1).

Balances, debits at most once per idempotency key (also when the same key arrives concurrently),
optimistic concurrency with ETag and If-Match, migrations that many replicas run at once, and
readiness that follows the service's own database.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from user_service.app import create_app
from user_service.postgres import PostgresStore
from user_service.store import SEED_BALANCE, MemoryStore, NewUser, Store


def _store(kind: str, database: str) -> Store:
    return MemoryStore() if kind == "memory" else PostgresStore(database, check_every=0.2)


def _serving(app_store: Store) -> Iterator[TestClient]:
    with TestClient(create_app(app_store)) as client:
        deadline = time.monotonic() + 30
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, "the store never became ready"
            time.sleep(0.1)
        yield client


@pytest.fixture(params=["memory", "postgres"])
def client(request: pytest.FixtureRequest) -> Iterator[TestClient]:
    database = request.getfixturevalue("database") if request.param == "postgres" else ""
    yield from _serving(_store(request.param, database))


def test_users_have_a_balance_and_a_version_and_the_etag_names_it(client: TestClient) -> None:
    ada = client.get("/users/1")
    assert ada.json()["balance"] == SEED_BALANCE and ada.headers["ETag"] == f'"{ada.json()["version"]}"'
    made = client.post("/users", json={"name": "Kay", "email": "kay@example.com", "balance": 500})
    assert made.status_code == 201 and made.json()["balance"] == 500 and made.json()["version"] == 1
    assert client.get(f"/users/{made.json()['id']}").json() == made.json()


def test_patch_needs_the_current_etag(client: TestClient) -> None:
    etag = client.get("/users/2").headers["ETag"]
    assert client.patch("/users/2", json={"name": "A. M. Turing"}).status_code == 428
    changed = client.patch("/users/2", json={"name": "A. M. Turing"}, headers={"If-Match": etag})
    assert changed.status_code == 200 and changed.json()["name"] == "A. M. Turing"
    assert changed.headers["ETag"] != etag
    stale = client.patch("/users/2", json={"email": "alan@example.org"}, headers={"If-Match": etag})
    assert stale.status_code == 412 and "version" in stale.json()["detail"]
    assert client.get("/users/2").json()["email"] == "alan@example.com"
    assert client.patch("/users/99", json={"name": "X"}, headers={"If-Match": '"1"'}).status_code == 404
    assert client.patch("/users/2", json={"name": "X"}, headers={"If-Match": "nonsense"}).status_code == 412


def _debit(client: TestClient, user: int, amount: int, key: str | None) -> tuple[int, dict[str, object]]:
    headers = {"Idempotency-Key": key} if key is not None else {}
    response = client.post(f"/users/{user}/debits", json={"amount": amount}, headers=headers)
    return response.status_code, response.json()


def test_a_debit_is_taken_once_per_key_and_a_repeat_gets_the_first_outcome(client: TestClient) -> None:
    code, first = _debit(client, 1, 2500, "order-1")
    assert code == 201 and first["outcome"] == "applied" and first["balance"] == SEED_BALANCE - 2500
    assert _debit(client, 1, 2500, "order-1") == (201, first)
    assert client.get("/users/1").json()["balance"] == SEED_BALANCE - 2500
    code, conflict = _debit(client, 1, 999, "order-1")
    assert code == 409 and "order-1" in str(conflict["detail"])
    assert _debit(client, 2, 2500, "order-1")[0] == 409


def test_refusals_are_remembered_under_their_key(client: TestClient) -> None:
    code, refused = _debit(client, 3, SEED_BALANCE + 1, "too-much")
    assert code == 422 and refused["outcome"] == "insufficient" and refused["balance"] is None
    assert _debit(client, 3, SEED_BALANCE + 1, "too-much") == (422, refused)
    code, missing = _debit(client, 404, 1, "nobody")
    assert code == 404 and missing["outcome"] == "not_found"
    assert client.get("/users/3").json()["balance"] == SEED_BALANCE


def test_bad_debits_name_what_is_wrong(client: TestClient) -> None:
    code, body = _debit(client, 1, 10, None)
    assert code == 400 and "Idempotency-Key" in str(body["detail"])
    code, body = _debit(client, 1, 0, "zero")
    assert code == 422 and body["detail"][0]["loc"] == ["body", "amount"]  # type: ignore[index]


@pytest.mark.parametrize("kind", ["memory", "postgres"])
def test_concurrent_debits_never_take_twice_or_below_zero(kind: str, request: pytest.FixtureRequest) -> None:
    store = _store(kind, request.getfixturevalue("database") if kind == "postgres" else "")

    async def run() -> tuple[list[str], list[str], int]:
        await store.start()
        while not store.ready():
            await asyncio.sleep(0.05)
        same = await asyncio.gather(*(store.debit(1, "same-key", 100) for _ in range(20)))
        spread = await asyncio.gather(*(store.debit(2, f"k{i}", SEED_BALANCE // 10) for i in range(25)))
        user = await store.get(2)
        await store.stop()
        assert user is not None
        return [r.outcome for r in same], [r.outcome for r in spread], user.balance

    same, spread, balance = asyncio.run(run())
    assert same == ["applied"] * 20  # one debit, replayed 19 times
    assert spread.count("applied") == 10 and spread.count("insufficient") == 15 and balance == 0


def test_replicas_starting_at_once_migrate_once_and_share_the_data(database: str) -> None:
    async def run() -> list[list[int]]:
        stores = [PostgresStore(database, check_every=0.1) for _ in range(4)]
        await asyncio.gather(*(s.start() for s in stores))
        while not all(s.ready() for s in stores):
            await asyncio.sleep(0.05)
        added = await stores[0].add(NewUser(name="Kay", email="k@x.io"))
        seen = []
        for store in stores:
            seen.append([u.id for u in await store.list()])
            assert await store.get(added.id) == added  # GET after POST, from every replica
        await asyncio.gather(*(s.stop() for s in stores))
        return seen

    assert asyncio.run(run()) == [[1, 2, 3, 4]] * 4  # seeded once, then the user added through one of them


def test_readiness_follows_the_services_own_database() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket is closed
    store = PostgresStore(f"host=127.0.0.1 port={port} user=postgres dbname=none connect_timeout=2",
                          timeout=0.5, check_every=0.1)
    with TestClient(create_app(store)) as client:
        time.sleep(1)
        assert client.get("/readyz").status_code == 503 and client.get("/healthz").status_code == 200
