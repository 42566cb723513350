"""Where users live: in memory by default, or in a SQLite file when USER_DB_PATH is set."""

from __future__ import annotations

import sqlite3
import threading
from typing import Protocol

from pydantic import BaseModel, Field

SEED = [("Ada Lovelace", "ada@example.com"), ("Alan Turing", "alan@example.com"),
        ("Grace Hopper", "grace@example.com")]


class NewUser(BaseModel):
    name: str = Field(min_length=1, max_length=100, description="Full name")
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254, description="E-mail address")


class User(NewUser):
    id: int


class Store(Protocol):
    def list(self) -> list[User]: ...

    def get(self, user_id: int) -> User | None: ...

    def add(self, new: NewUser) -> User: ...


class MemoryStore:
    def __init__(self, seed: bool = True) -> None:
        self._users: dict[int, User] = {}
        self._lock = threading.Lock()
        for name, email in SEED if seed else []:
            self.add(NewUser(name=name, email=email))

    def list(self) -> list[User]:
        return list(self._users.values())

    def get(self, user_id: int) -> User | None:
        return self._users.get(user_id)

    def add(self, new: NewUser) -> User:
        with self._lock:
            user = User(id=len(self._users) + 1, **new.model_dump())
            self._users[user.id] = user
        return user


class SqliteStore:
    """Persists users in one SQLite file (seeded when empty)."""

    def __init__(self, path: str) -> None:
        self._db = sqlite3.connect(path, check_same_thread=False)
        self._lock = threading.Lock()
        with self._lock, self._db:
            self._db.execute("CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY, name TEXT, email TEXT)")
        if not self.list():
            for name, email in SEED:
                self.add(NewUser(name=name, email=email))

    def list(self) -> list[User]:
        with self._lock:
            rows = self._db.execute("SELECT id, name, email FROM users ORDER BY id").fetchall()
        return [User(id=r[0], name=r[1], email=r[2]) for r in rows]

    def get(self, user_id: int) -> User | None:
        with self._lock:
            row = self._db.execute("SELECT id, name, email FROM users WHERE id = ?", (user_id,)).fetchone()
        return User(id=row[0], name=row[1], email=row[2]) if row else None

    def add(self, new: NewUser) -> User:
        with self._lock, self._db:
            cursor = self._db.execute("INSERT INTO users (name, email) VALUES (?, ?)", (new.name, new.email))
        return User(id=int(cursor.lastrowid or 0), **new.model_dump())
