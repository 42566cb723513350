"""The orders on PostgreSQL (see sample_common.pg for the pool, the migration and readiness)."""

from __future__ import annotations

import logging
from typing import Any

from sample_common.pg import Database, OnDatabase

from .store import NewOrder, Order, Status, first_of_key

MIGRATION_LOCK = 7_351_002  # the advisory lock key of the migration
MIGRATION = [
    """CREATE TABLE IF NOT EXISTS orders (
         id bigserial PRIMARY KEY, key text NOT NULL UNIQUE, user_id bigint NOT NULL, item text NOT NULL,
         quantity integer NOT NULL, unit_price bigint NOT NULL, amount bigint NOT NULL,
         status text NOT NULL CHECK (status IN ('PENDING', 'CONFIRMED', 'REJECTED')), reason text,
         created_at timestamptz NOT NULL DEFAULT now(), settled_at timestamptz)""",
    "CREATE INDEX IF NOT EXISTS orders_pending ON orders (created_at) WHERE status = 'PENDING'",
]
COLUMNS = "id, key, user_id, item, quantity, unit_price, amount, status, reason"


def _order(row: dict[str, Any]) -> Order:
    return Order.model_validate(row)


class PostgresOrders(OnDatabase):
    """The order store contract (see store.py) on one PostgreSQL database, shared by every replica."""

    def __init__(self, conninfo: str, *, timeout: float = 2.0, pool_size: int = 5, check_every: float = 2.0,
                 log: logging.Logger | None = None) -> None:
        self.db = Database(conninfo, MIGRATION, MIGRATION_LOCK, timeout=timeout, pool_size=pool_size,
                           check_every=check_every, log=log or logging.getLogger("order-service"))

    async def create(self, key: str, new: NewOrder) -> tuple[Order, bool]:
        """The key is unique: of two replicas storing the same key at once, one inserts, the other
        waits for it and then reads its order."""
        row = await self.db.one(
            "INSERT INTO orders (key, user_id, item, quantity, unit_price, amount, status) "
            "VALUES (%s, %s, %s, %s, %s, %s, 'PENDING') ON CONFLICT (key) DO NOTHING "
            f"RETURNING {COLUMNS}",
            (key, new.user_id, new.item, new.quantity, new.unit_price, new.total()))
        if row is not None:
            return _order(row), True
        first = await self.db.one(f"SELECT {COLUMNS} FROM orders WHERE key = %s", (key,))
        assert first is not None
        return first_of_key(_order(first), new)

    async def get(self, order_id: int) -> Order | None:
        row = await self.db.one(f"SELECT {COLUMNS} FROM orders WHERE id = %s", (order_id,))
        return _order(row) if row else None

    async def settle(self, order_id: int, status: Status, reason: str | None) -> Order:
        row = await self.db.one(
            "UPDATE orders SET status = %s, reason = %s, settled_at = now() WHERE id = %s AND status = 'PENDING' "
            f"RETURNING {COLUMNS}", (status, reason, order_id))
        row = row or await self.db.one(f"SELECT {COLUMNS} FROM orders WHERE id = %s", (order_id,))
        assert row is not None
        return _order(row)

    async def pending(self, limit: int, older_than: float) -> list[Order]:
        rows = await self.db.all(
            f"SELECT {COLUMNS} FROM orders WHERE status = 'PENDING' "
            "AND created_at <= now() - make_interval(secs => %s) ORDER BY created_at LIMIT %s", (older_than, limit))
        return [_order(row) for row in rows]
