"""The order store's contract on both stores (in memory, and PostgreSQL on 127.0.0.1), and the saga
on PostgreSQL on both sides: the balances equal what the confirmed orders took, once each."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from order_service.app import create_app
from order_service.postgres import PostgresOrders
from order_service.store import KeyConflict, MemoryOrders, NewOrder, OrderStore
from order_service.users import UserClient
from user_service.app import create_app as create_user_app
from user_service.postgres import PostgresStore
from user_service.store import SEED_BALANCE

from tests.conftest import free_port
from tests.support.served import serve_in_thread

PEN = NewOrder(userId=1, item="pen", quantity=2, unitPrice=150)


@pytest.fixture(params=["memory", "postgres"])
def store(request: pytest.FixtureRequest) -> OrderStore:
    if request.param == "memory":
        return MemoryOrders()
    return PostgresOrders(request.getfixturevalue("database"), check_every=0.1)


async def _started(store: OrderStore) -> OrderStore:
    await store.start()
    while not store.ready():
        await asyncio.sleep(0.05)
    return store


def test_an_order_is_stored_once_per_key_and_settled_once(store: OrderStore) -> None:
    async def run() -> None:
        await _started(store)
        order, created = await store.create("k1", PEN)
        assert created and order.status == "PENDING" and order.amount == 300
        assert await store.create("k1", PEN) == (order, False)
        with pytest.raises(KeyConflict):
            await store.create("k1", PEN.model_copy(update={"quantity": 3}))
        assert [o.id for o in await store.pending(10, older_than=0)] == [order.id]
        assert await store.pending(10, older_than=3600) == []
        confirmed = await store.settle(order.id, "CONFIRMED", None)
        assert (await store.settle(order.id, "REJECTED", "late")).status == confirmed.status == "CONFIRMED"
        assert await store.get(order.id) == confirmed and await store.pending(10, older_than=0) == []
        many = await asyncio.gather(*(store.create("k2", PEN) for _ in range(10)))
        assert [created for _, created in many].count(True) == 1 and len({o.id for o, _ in many}) == 1
        await store.stop()

    asyncio.run(run())


@pytest.fixture
def user_db(postgres_server: str, database: str) -> Iterator[str]:
    """user-service on PostgreSQL, served on 127.0.0.1; yields its URL."""
    store = PostgresStore(database, check_every=0.1)
    with serve_in_thread(create_user_app(store), free_port()) as url:
        yield url


def test_the_saga_on_postgresql_takes_each_confirmed_order_once(user_db: str, database: str,
                                                                 postgres_server: str) -> None:
    name = "o" + database.rsplit("dbname=", 1)[1]
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    orders = PostgresOrders(postgres_server.replace("dbname=test", f"dbname={name}"), check_every=0.1)
    # 60 orders from 6 clients at once; 20 of them repeat an earlier key (with the same body)
    bodies = [({"userId": 1 + k % 3, "item": "x", "quantity": 1, "unitPrice": 700 + k}, f"key-{k}")
              for k in [i % 40 for i in range(60)]]
    with TestClient(create_app(UserClient(base_url=user_db), store=orders, recovery_seconds=0.2)) as client:
        while client.get("/readyz").status_code != 200:
            time.sleep(0.05)
        with ThreadPoolExecutor(6) as pool:
            answers = list(pool.map(lambda bk: client.post("/orders", json=bk[0], headers={"Idempotency-Key": bk[1]}),
                                    bodies))
        ids = {a.json()["id"] for a in answers}  # not 1..40: a key's repeat uses up a sequence number
        confirmed = {o["idempotencyKey"]: o for o in (client.get(f"/orders/{i}").json() for i in ids)}
    assert {a.status_code for a in answers} == {201} and len(ids) == len(confirmed) == 40
    users = {u["id"]: u["balance"] for u in httpx.get(f"{user_db}/users").json()}
    for user_id in (1, 2, 3):
        taken = sum(o["amount"] for o in confirmed.values() if o["userId"] == user_id and o["status"] == "CONFIRMED")
        assert users[user_id] == SEED_BALANCE - taken
