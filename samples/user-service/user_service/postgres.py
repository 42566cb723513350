"""The users on PostgreSQL (see sample_common.pg for the pool, the migration and readiness)."""

from __future__ import annotations

import logging

from sample_common.pg import Connection, Database, OnDatabase

from .store import SEED, SEED_BALANCE, DebitResult, NewUser, NotFound, StaleVersion, User, UserPatch, replayed

MIGRATION_LOCK = 7_351_001  # the advisory lock key of the migration
MIGRATION = [
    """CREATE TABLE IF NOT EXISTS users (
         id bigserial PRIMARY KEY, name text NOT NULL, email text NOT NULL,
         balance bigint NOT NULL DEFAULT 0 CHECK (balance >= 0), version integer NOT NULL DEFAULT 1)""",
    """CREATE TABLE IF NOT EXISTS debits (
         key text PRIMARY KEY, user_id bigint NOT NULL, amount bigint NOT NULL CHECK (amount > 0),
         outcome text, balance bigint, created_at timestamptz NOT NULL DEFAULT now())""",
]
USER_COLUMNS = "id, name, email, balance, version"


class PostgresStore(OnDatabase):
    """The store contract (see store.py) on one PostgreSQL database, shared by every replica."""

    def __init__(self, conninfo: str, *, timeout: float = 2.0, pool_size: int = 5, check_every: float = 2.0,
                 log: logging.Logger | None = None) -> None:
        self.db = Database(conninfo, MIGRATION, MIGRATION_LOCK, seed=_seed, timeout=timeout, pool_size=pool_size,
                           check_every=check_every, log=log or logging.getLogger("user-service"))

    async def list(self) -> list[User]:
        return [User(**row) for row in await self.db.all(f"SELECT {USER_COLUMNS} FROM users ORDER BY id")]

    async def get(self, user_id: int) -> User | None:
        row = await self.db.one(f"SELECT {USER_COLUMNS} FROM users WHERE id = %s", (user_id,))
        return User(**row) if row else None

    async def add(self, new: NewUser) -> User:
        row = await self.db.one(
            f"INSERT INTO users (name, email, balance) VALUES (%s, %s, %s) RETURNING {USER_COLUMNS}",
            (new.name, new.email, new.balance))
        assert row is not None
        return User(**row)

    async def update(self, user_id: int, patch: UserPatch, version: int) -> User:
        async with self.db.connection() as conn:
            row = await (await conn.execute(
                "UPDATE users SET name = COALESCE(%s, name), email = COALESCE(%s, email), version = version + 1 "
                f"WHERE id = %s AND version = %s RETURNING {USER_COLUMNS}",
                (patch.name, patch.email, user_id, version))).fetchone()
            if row is not None:
                return User(**row)
            current = await (await conn.execute("SELECT version FROM users WHERE id = %s", (user_id,))).fetchone()
        raise NotFound(user_id) if current is None else StaleVersion(current["version"])

    async def debit(self, user_id: int, key: str, amount: int) -> DebitResult:
        """One transaction. The key's row is inserted first: a concurrent call with the same key waits
        on it, then finds it and returns its outcome, so the money is taken once."""
        async with self.db.connection() as conn, conn.transaction():
            claimed = await conn.execute(
                "INSERT INTO debits (key, user_id, amount) VALUES (%s, %s, %s) ON CONFLICT (key) DO NOTHING",
                (key, user_id, amount))
            if claimed.rowcount == 0:
                first = await (await conn.execute(
                    "SELECT key, user_id, amount, outcome, balance FROM debits WHERE key = %s", (key,))).fetchone()
                assert first is not None
                return replayed(DebitResult(**first), user_id, amount)
            result = await _take(conn, user_id, key, amount)
            await conn.execute("UPDATE debits SET outcome = %s, balance = %s WHERE key = %s",
                               (result.outcome, result.balance, key))
        return result


async def _seed(conn: Connection) -> None:
    empty = await (await conn.execute("SELECT NOT EXISTS (SELECT 1 FROM users) AS empty")).fetchone()
    if empty and empty["empty"]:
        for name, email in SEED:
            await conn.execute("INSERT INTO users (name, email, balance) VALUES (%s, %s, %s)",
                               (name, email, SEED_BALANCE))


async def _take(conn: Connection, user_id: int, key: str, amount: int) -> DebitResult:
    taken = await (await conn.execute(
        "UPDATE users SET balance = balance - %s, version = version + 1 WHERE id = %s AND balance >= %s "
        "RETURNING balance", (amount, user_id, amount))).fetchone()
    if taken is not None:
        return DebitResult(key=key, user_id=user_id, amount=amount, outcome="applied", balance=taken["balance"])
    exists = await (await conn.execute("SELECT 1 FROM users WHERE id = %s", (user_id,))).fetchone()
    return DebitResult(key=key, user_id=user_id, amount=amount, outcome="insufficient" if exists else "not_found")
