"""A service's own PostgreSQL database: psycopg 3's async pool, the schema migrated at start, readiness.

Every replica of every track migrates when it starts, under one transaction-scoped advisory lock, with
statements that are no-ops once applied: replicas starting together apply it once. Until the
migration ran and while the database does not answer, ``ready()`` is False (the pod's /readyz is 503).
Every wait is bounded: connecting, taking a connection from the pool, and each statement.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

Connection = psycopg.AsyncConnection[Any]
Seed = Callable[[Connection], Awaitable[None]]


class Database:
    """The pool, the migration (``statements``, then ``seed``) and the readiness of one database."""

    def __init__(self, conninfo: str, statements: list[str], lock_key: int, *, seed: Seed | None = None,
                 timeout: float = 2.0, pool_size: int = 5, check_every: float = 2.0,
                 log: logging.Logger | None = None) -> None:
        options = f"-c statement_timeout={int(timeout * 1000)} -c lock_timeout={int(timeout * 1000)}"
        self.pool = AsyncConnectionPool(
            conninfo, min_size=1, max_size=pool_size, timeout=timeout, open=False,
            kwargs={"connect_timeout": max(2, math.ceil(timeout)), "options": options, "row_factory": dict_row})
        self._migration = [f"SELECT pg_advisory_xact_lock({lock_key})", *statements]
        self._seed, self._check_every = seed, check_every
        self._log = log or logging.getLogger("sample")
        self._ready = self._migrated = False
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.pool.open(wait=False)
        self._task = asyncio.create_task(self._watch())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        await self.pool.close()

    def ready(self) -> bool:
        return self._ready

    def connection(self) -> AbstractAsyncContextManager[Connection]:
        """A pooled connection; its transaction commits when the block ends without an error."""
        return self.pool.connection()

    async def one(self, query: str, params: tuple[Any, ...] = ()) -> dict[str, Any] | None:
        async with self.pool.connection() as conn:
            row: dict[str, Any] | None = await (await conn.execute(query, params)).fetchone()
            return row

    async def all(self, query: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        async with self.pool.connection() as conn:
            return await (await conn.execute(query, params)).fetchall()

    async def _migrate(self, conn: Connection) -> None:
        async with conn.transaction():
            for statement in self._migration:
                await conn.execute(statement)
            if self._seed is not None:
                await self._seed(conn)

    async def _watch(self) -> None:
        """Migrates once, then checks the database every ``check_every`` seconds, for ``ready()``."""
        while True:
            try:
                async with self.pool.connection() as conn:
                    if not self._migrated:
                        await self._migrate(conn)
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


class OnDatabase:
    """Start, stop and readiness of a store on its service's own database, ``self.db``."""

    db: Database

    async def start(self) -> None:
        await self.db.start()

    async def stop(self) -> None:
        await self.db.stop()

    def ready(self) -> bool:
        return self.db.ready()
