"""The user-service HTTP API."""

from __future__ import annotations

import os

from fastapi import FastAPI, HTTPException
from sample_common import instrument

from .store import MemoryStore, NewUser, SqliteStore, Store, User


def default_store() -> Store:
    path = os.environ.get("USER_DB_PATH")
    return SqliteStore(path) if path else MemoryStore()


def create_app(store: Store | None = None) -> FastAPI:
    app = FastAPI(title="user-service")
    users = store if store is not None else default_store()
    instrument(app, "user-service")

    @app.get("/users")
    def list_users() -> list[User]:
        return users.list()

    @app.get("/users/{user_id}")
    def get_user(user_id: int) -> User:
        user = users.get(user_id)
        if user is None:
            raise HTTPException(status_code=404, detail=f"no user with id {user_id}")
        return user

    @app.post("/users", status_code=201)
    def create_user(new: NewUser) -> User:
        return users.add(new)

    return app


app = create_app()
