"""The user-service HTTP API.

Its store is PostgreSQL when DATABASE_URL is set (a libpq URL or conninfo; the PG* environment
variables fill in what it leaves out, e.g. PGPASSWORD from a Secret), else one process's memory,
which only suits tests and local runs: replicas would not share it.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Header, HTTPException, Response
from sample_common import instrument

from .postgres import PostgresStore
from .store import Debit, DebitResult, KeyConflict, MemoryStore, NewUser, NotFound, StaleVersion, Store, User, UserPatch

ETAG = re.compile(r'^(?:W/)?"(\d+)"$')
DEBIT_STATUS = {"applied": 201, "insufficient": 422, "not_found": 404}


def default_store() -> Store:
    url = os.environ.get("DATABASE_URL")
    if not url:
        return MemoryStore()
    return PostgresStore(url, timeout=float(os.environ.get("DATABASE_TIMEOUT_SECONDS", "2")))


def etag(user: User) -> str:
    return f'"{user.version}"'


def _version(if_match: str | None) -> int:
    if if_match is None:
        raise HTTPException(status_code=428, detail="If-Match is required: send the ETag of GET /users/{id}")
    match = ETAG.match(if_match.strip())
    if match is None:
        raise HTTPException(status_code=412, detail=f"If-Match {if_match!r} is not an ETag of this service")
    return int(match.group(1))


def create_app(store: Store | None = None) -> FastAPI:
    users = store if store is not None else default_store()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await users.start()
        yield
        await users.stop()

    app = FastAPI(title="user-service", lifespan=lifespan)
    instrument(app, "user-service", ready=users.ready)
    _user_routes(app, users)
    _debit_routes(app, users)
    return app


def _user_routes(app: FastAPI, users: Store) -> None:
    @app.get("/users")
    async def list_users() -> list[User]:
        return await users.list()

    @app.get("/users/{user_id}")
    async def get_user(user_id: int, response: Response) -> User:
        user = await users.get(user_id)
        if user is None:
            raise HTTPException(status_code=404, detail=f"no user with id {user_id}")
        response.headers["ETag"] = etag(user)
        return user

    @app.post("/users", status_code=201)
    async def create_user(new: NewUser, response: Response) -> User:
        user = await users.add(new)
        response.headers["ETag"] = etag(user)
        return user

    @app.patch("/users/{user_id}")
    async def patch_user(user_id: int, patch: UserPatch, response: Response,
                         if_match: str | None = Header(default=None)) -> User:
        try:
            user = await users.update(user_id, patch, _version(if_match))
        except NotFound:
            raise HTTPException(status_code=404, detail=f"no user with id {user_id}") from None
        except StaleVersion as stale:
            raise HTTPException(status_code=412, detail=f"user {user_id} changed: it is at version {stale}, "
                                "If-Match names another; GET it again") from None
        response.headers["ETag"] = etag(user)
        return user


def _debit_routes(app: FastAPI, users: Store) -> None:
    @app.post("/users/{user_id}/debits", status_code=201)
    async def debit(user_id: int, body: Debit, response: Response,
                    idempotency_key: str | None = Header(default=None, min_length=1, max_length=200),
                    ) -> DebitResult:
        """Takes ``amount`` from the balance once per Idempotency-Key; a repeat gets the first outcome."""
        if idempotency_key is None:
            raise HTTPException(status_code=400, detail="the Idempotency-Key header is required")
        try:
            result = await users.debit(user_id, idempotency_key, body.amount)
        except KeyConflict as conflict:
            raise HTTPException(status_code=409, detail=str(conflict)) from None
        response.status_code = DEBIT_STATUS[result.outcome]
        return result


app = create_app()
