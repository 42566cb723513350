"""Orders and their saga state: the store contract, and the in-memory store the unit tests use.

An order is stored PENDING under its idempotency key (unique), then settled once: CONFIRMED when the
user's debit was taken, REJECTED when user-service refused it. Settling a settled order changes
nothing, so any replica may retry a PENDING one (the debit's key makes the retry safe).
"""

from __future__ import annotations

import asyncio
import time
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field
from sample_common.lifecycle import InMemory

Status = Literal["PENDING", "CONFIRMED", "REJECTED"]


class NewOrder(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    user_id: int = Field(alias="userId", ge=1, description="Id of an existing user")
    item: str = Field(min_length=1, max_length=100)
    quantity: int = Field(default=1, ge=1, le=1000)
    unit_price: int = Field(default=100, alias="unitPrice", ge=1, le=1_000_000, description="Cents per item")

    def total(self) -> int:
        """Cents to debit for this order: quantity × unitPrice."""
        return self.quantity * self.unit_price


class Order(NewOrder):
    id: int
    key: str = Field(alias="idempotencyKey", description="The order's key; also its debit's key")
    amount: int = Field(description="Cents debited from the user: quantity × unitPrice")
    status: Status
    reason: str | None = Field(default=None, description="Why it was rejected")

    def same_request(self, new: NewOrder) -> bool:
        return NewOrder.model_validate(self.model_dump(by_alias=True)) == new


class KeyConflict(Exception):
    """The idempotency key was used before, for another order."""


class OrderStore(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def ready(self) -> bool: ...

    async def create(self, key: str, new: NewOrder) -> tuple[Order, bool]:
        """The PENDING order stored under ``key`` and True; or the order ``key`` stored before and False."""
        ...

    async def get(self, order_id: int) -> Order | None: ...

    async def settle(self, order_id: int, status: Status, reason: str | None) -> Order:
        """Sets the final status of a PENDING order; a settled order is returned unchanged."""
        ...

    async def pending(self, limit: int, older_than: float) -> list[Order]:
        """Up to ``limit`` PENDING orders created at least ``older_than`` seconds ago, oldest first."""
        ...


def first_of_key(order: Order, new: NewOrder) -> tuple[Order, bool]:
    if not order.same_request(new):
        raise KeyConflict(f"Idempotency-Key {order.key!r} was already used for a different order")
    return order, False


class MemoryOrders(InMemory):
    """The contract in one process's memory: for unit tests and local runs, not for replicas."""

    def __init__(self) -> None:
        self._orders: dict[int, Order] = {}
        self._by_key: dict[str, int] = {}
        self._created: dict[int, float] = {}
        self._lock = asyncio.Lock()

    async def create(self, key: str, new: NewOrder) -> tuple[Order, bool]:
        async with self._lock:
            if key in self._by_key:
                return first_of_key(self._orders[self._by_key[key]], new)
            order = Order(id=len(self._orders) + 1, key=key, amount=new.total(), status="PENDING",
                          **new.model_dump())
            self._orders[order.id] = order
            self._by_key[key] = order.id
            self._created[order.id] = time.monotonic()
        return order, True

    async def get(self, order_id: int) -> Order | None:
        return self._orders.get(order_id)

    async def settle(self, order_id: int, status: Status, reason: str | None) -> Order:
        async with self._lock:
            order = self._orders[order_id]
            if order.status == "PENDING":
                order = self._orders[order_id] = order.model_copy(update={"status": status, "reason": reason})
        return order

    async def pending(self, limit: int, older_than: float) -> list[Order]:
        before = time.monotonic() - older_than
        return [o for o in self._orders.values() if o.status == "PENDING" and self._created[o.id] <= before][:limit]
