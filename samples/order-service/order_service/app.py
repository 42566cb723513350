"""The order-service HTTP API, and its saga with user-service.

``POST /orders`` stores the order PENDING under its Idempotency-Key (made when the caller sends none),
then debits the user with that key: ``201`` CONFIRMED when the debit is taken, ``422`` REJECTED when
user-service refuses it (missing user, insufficient balance; the order is kept), ``202`` PENDING when
the outcome is unknown (a timeout, a 5xx, a failover mid-call). A recovery loop in every replica
retries PENDING orders with the same key, at start and every ORDER_RECOVERY_SECONDS, so a pod killed
mid-saga loses nothing. A repeated Idempotency-Key returns the first order, from any replica.

The store is PostgreSQL when DATABASE_URL is set, else one process's memory (tests, local runs).
Readiness follows the service's own database, never user-service: an outage there leaves orders
PENDING, not the pods unready (which would fail order-service over to no avail).
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Header, HTTPException
from fastapi.responses import JSONResponse
from prometheus_client import Counter
from sample_common import instrument

from .postgres import PostgresOrders
from .store import KeyConflict, MemoryOrders, NewOrder, Order, OrderStore
from .users import UserClient, UserServiceUnavailable

STATUS_CODES = {"CONFIRMED": 201, "REJECTED": 422, "PENDING": 202}
REJECTIONS = {"insufficient": "insufficient balance", "not_found": "no such user",
              "key_conflict": "the debit's key was used for another debit"}
RECOVERY_BATCH = 100
RECOVERY_AGE_SECONDS = 2.0  # younger PENDING orders are still being settled by the request that made them


def default_store() -> OrderStore:
    url = os.environ.get("DATABASE_URL")
    return PostgresOrders(url, timeout=float(os.environ.get("DATABASE_TIMEOUT_SECONDS", "2"))) if url \
        else MemoryOrders()


class Saga:
    """Settles orders: one debit per order, by its key; counts what it does."""

    def __init__(self, orders: OrderStore, users: UserClient, app: FastAPI, log: logging.Logger) -> None:
        self.orders, self.users, self.log = orders, users, log
        registry = app.state.registry
        self.settled = Counter("orders_total", "Orders by the status they reached", ["status"], registry=registry)
        self.retries = Counter("debit_retries_total", "Debit calls repeated after an unknown outcome",
                               registry=registry)

    async def settle(self, order: Order) -> Order:
        """Debits the user for a PENDING order and stores the outcome; PENDING again if it is unknown."""
        try:
            outcome = await self.users.debit(order.user_id, order.key, order.amount, on_retry=self.retries.inc)
        except UserServiceUnavailable as err:
            self.log.warning(f"order {order.id} stays PENDING: {err}", extra={"order": order.id})
            self.settled.labels("PENDING").inc()
            return order
        status, reason = ("CONFIRMED", None) if outcome == "applied" else ("REJECTED", REJECTIONS[outcome])
        settled = await self.orders.settle(order.id, status, reason)
        self.settled.labels(settled.status).inc()
        self.log.info(f"order {order.id} {settled.status}", extra={"order": order.id, "status": settled.status})
        return settled

    async def recover(self, every: float) -> None:
        """Retries the PENDING orders (any replica's), now and every ``every`` seconds."""
        while True:
            if self.orders.ready():  # not before the schema is migrated, nor while the database is down
                await self._recover_round()
            await asyncio.sleep(every)

    async def _recover_round(self) -> None:
        try:
            for order in await self.orders.pending(RECOVERY_BATCH, older_than=RECOVERY_AGE_SECONDS):
                self.retries.inc()
                await self.settle(order)
        except Exception as err:  # the database went down mid-round, say: the next round retries
            self.log.warning(f"recovery round failed: {type(err).__name__}: {err}")


def _answer(order: Order) -> JSONResponse:
    return JSONResponse(status_code=STATUS_CODES[order.status], content=order.model_dump(by_alias=True))


def create_app(users: UserClient | None = None, store: OrderStore | None = None,
               recovery_seconds: float | None = None) -> FastAPI:
    orders = store if store is not None else default_store()
    every = recovery_seconds if recovery_seconds is not None else float(os.environ.get("ORDER_RECOVERY_SECONDS", "5"))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await orders.start()
        recovery = asyncio.create_task(saga.recover(every))
        yield
        recovery.cancel()
        await orders.stop()

    app = FastAPI(title="order-service", lifespan=lifespan)
    log = instrument(app, "order-service", ready=orders.ready)
    saga = Saga(orders, users or UserClient.from_env(), app, log)

    @app.post("/orders", status_code=201, response_model=Order, response_model_by_alias=True)
    async def create_order(new: NewOrder, idempotency_key: str | None = Header(default=None, max_length=200),
                           ) -> JSONResponse:
        try:
            order, created = await orders.create(idempotency_key or f"order-{uuid.uuid4()}", new)
        except KeyConflict as conflict:
            raise HTTPException(409, detail=str(conflict)) from None
        if created or order.status == "PENDING":  # a client's retry settles an order left PENDING
            order = await saga.settle(order)
        return _answer(order)

    @app.get("/orders/{order_id}", response_model=Order, response_model_by_alias=True)
    async def get_order(order_id: int) -> Order:
        order = await orders.get(order_id)
        if order is None:
            raise HTTPException(404, detail=f"no order with id {order_id}")
        return order

    return app


app = create_app()
