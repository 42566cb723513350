"""The users on PostgreSQL: psycopg 3 with its async pool, the schema migrated at start.

Every replica of every track migrates when it starts, under one transaction-scoped advisory lock, with
statements that are no-ops once applied: replicas starting together apply it once. Until the
migration ran and while the database does not answer, ``ready()`` is False (the pod's /readyz is 503).
Every wait is bounded: connecting, taking a connection from the pool, and each statement.
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from .store import SEED, SEED_BALANCE, DebitResult, NewUser, NotFound, StaleVersion, User, UserPatch, replayed

MIGRATION_LOCK = 7_351_001  # the advisory lock key of the migration
MIGRATION = [
    f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})",
    """CREATE TABLE IF NOT EXISTS users (
         id bigserial PRIMARY KEY, name text NOT NULL, email text NOT NULL,
         balance bigint NOT NULL DEFAULT 0 CHECK (balance >= 0), version integer NOT NULL DEFAULT 1)""",
    """CREATE TABLE IF NOT EXISTS debits (
         key text PRIMARY KEY, user_id bigint NOT NULL, amount bigint NOT NULL CHECK (amount > 0),
         outcome text, balance bigint, created_at timestamptz NOT NULL DEFAULT now())""",
]
USER_COLUMNS = "id, name, email, balance, version"


class PostgresStore:
    """The store contract (see store.py) on one PostgreSQL database, shared by every replica."""

    def __init__(self, conninfo: str, *, timeout: float = 2.0, pool_size: int = 5, check_every: float = 2.0,
                 log: logging.Logger | None = None) -> None:
        options = f"-c statement_timeout={int(timeout * 1000)} -c lock_timeout={int(timeout * 1000)}"
        self._pool = AsyncConnectionPool(
            conninfo, min_size=1, max_size=pool_size, timeout=timeout, open=False,
            kwargs={"connect_timeout": max(2, math.ceil(timeout)), "options": options, "row_factory": dict_row})
        self._check_every = check_every
        self._log = log or logging.getLogger("user-service")
        self._ready = self._migrated = False
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._pool.open(wait=False)
        self._task = asyncio.create_task(self._watch())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        await self._pool.close()

    def ready(self) -> bool:
        return self._ready

    async def _watch(self) -> None:
        """Migrates once, then checks the database every ``check_every`` seconds, for ``ready()``."""
        while True:
            try:
                async with self._pool.connection() as conn:
                    if not self._migrated:
                        await _migrate(conn)
                        self._migrated = True
                        self._log.info("database schema up to date")
                    await conn.execute("SELECT 1")
                if not self._ready:
                    self._log.info("database reachable: ready", extra={"ready": True})
                self._ready = True
            except (psycopg.Error, PoolTimeout, OSError) as err:
                if self._ready or not self._migrated:
                    self._log.warning(f"database unreachable: not ready ({type(err).__name__}: {err})",
                                      extra={"ready": False})
                self._ready = False
            await asyncio.sleep(self._check_every)

    async def _one(self, query: str, params: tuple[Any, ...]) -> dict[str, Any] | None:
        async with self._pool.connection() as conn:
            row: dict[str, Any] | None = await (await conn.execute(query, params)).fetchone()
            return row

    async def list(self) -> list[User]:
        async with self._pool.connection() as conn:
            rows = await (await conn.execute(f"SELECT {USER_COLUMNS} FROM users ORDER BY id")).fetchall()
        return [User(**row) for row in rows]

    async def get(self, user_id: int) -> User | None:
        row = await self._one(f"SELECT {USER_COLUMNS} FROM users WHERE id = %s", (user_id,))
        return User(**row) if row else None

    async def add(self, new: NewUser) -> User:
        row = await self._one(f"INSERT INTO users (name, email, balance) VALUES (%s, %s, %s) RETURNING {USER_COLUMNS}",
                              (new.name, new.email, new.balance))
        assert row is not None
        return User(**row)

    async def update(self, user_id: int, patch: UserPatch, version: int) -> User:
        async with self._pool.connection() as conn:
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
        async with self._pool.connection() as conn, conn.transaction():
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


async def _migrate(conn: psycopg.AsyncConnection[Any]) -> None:
    async with conn.transaction():
        for statement in MIGRATION:
            await conn.execute(statement)
        empty = await (await conn.execute("SELECT NOT EXISTS (SELECT 1 FROM users) AS empty")).fetchone()
        if empty and empty["empty"]:
            for name, email in SEED:
                await conn.execute("INSERT INTO users (name, email, balance) VALUES (%s, %s, %s)",
                                   (name, email, SEED_BALANCE))


async def _take(conn: psycopg.AsyncConnection[Any], user_id: int, key: str, amount: int) -> DebitResult:
    taken = await (await conn.execute(
        "UPDATE users SET balance = balance - %s, version = version + 1 WHERE id = %s AND balance >= %s "
        "RETURNING balance", (amount, user_id, amount))).fetchone()
    if taken is not None:
        return DebitResult(key=key, user_id=user_id, amount=amount, outcome="applied", balance=taken["balance"])
    exists = await (await conn.execute("SELECT 1 FROM users WHERE id = %s", (user_id,))).fetchone()
    return DebitResult(key=key, user_id=user_id, amount=amount, outcome="insufficient" if exists else "not_found")
