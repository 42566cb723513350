"""The order-service HTTP API.

Readiness does not depend on user-service: an outage there makes POST /orders answer 503, but
GET /orders keeps working and the pods stay ready, so one service's outage does not cascade into
the other's (and does not trigger the operator's failover for order-service).
"""

from __future__ import annotations

import threading

from fastapi import FastAPI, Header, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sample_common import instrument

from .users import UserClient, UserServiceUnavailable


class NewOrder(BaseModel):
    user_id: int = Field(alias="userId", ge=1, description="Id of an existing user")
    item: str = Field(min_length=1, max_length=100)
    quantity: int = Field(default=1, ge=1, le=1000)


class Order(NewOrder):
    id: int


class Orders:
    """Orders in memory, and which Idempotency-Key created which order."""

    def __init__(self) -> None:
        self._orders: dict[int, Order] = {}
        self._by_key: dict[str, tuple[NewOrder, Order]] = {}
        self._lock = threading.Lock()

    def replay(self, key: str | None, new: NewOrder) -> Order | None:
        """The order ``key`` already created; 409 if the key was used for a different request."""
        if key is None or key not in self._by_key:
            return None
        first, order = self._by_key[key]
        if first != new:
            raise HTTPException(409, detail="Idempotency-Key was already used for a different order")
        return order

    def add(self, key: str | None, new: NewOrder) -> Order:
        with self._lock:
            existing = self.replay(key, new)  # a concurrent retry may have won the race
            if existing is not None:
                return existing
            order = Order(id=len(self._orders) + 1, **new.model_dump(by_alias=True))
            self._orders[order.id] = order
            if key is not None:
                self._by_key[key] = (new, order)
        return order

    def get(self, order_id: int) -> Order | None:
        return self._orders.get(order_id)


def _unknown_user(user_id: int) -> JSONResponse:
    detail = [{"loc": ["body", "userId"], "msg": f"no user with id {user_id}", "type": "value_error"}]
    return JSONResponse(status_code=422, content={"detail": detail})


def create_app(users: UserClient | None = None) -> FastAPI:
    app = FastAPI(title="order-service")
    client = users or UserClient.from_env()
    orders = Orders()
    instrument(app, "order-service")

    @app.post("/orders", status_code=201, response_model=Order, response_model_by_alias=True)
    async def create_order(new: NewOrder, idempotency_key: str | None = Header(default=None, max_length=200),
                           ) -> Order | JSONResponse:
        replayed = orders.replay(idempotency_key, new)
        if replayed is not None:
            return replayed
        try:
            if not await client.exists(new.user_id):
                return _unknown_user(new.user_id)
        except UserServiceUnavailable as err:
            raise HTTPException(503, detail=str(err), headers={"Retry-After": "1"}) from err
        return orders.add(idempotency_key, new)

    @app.get("/orders/{order_id}", response_model=Order, response_model_by_alias=True)
    def get_order(order_id: int) -> Order:
        order = orders.get(order_id)
        if order is None:
            raise HTTPException(404, detail=f"no order with id {order_id}")
        return order

    return app


app = create_app()
