"""Users and their balances: the store contract, and the in-memory store the unit tests use.

The service runs on PostgreSQL (``postgres.py``); both stores keep the same contract:

- a user has a ``balance`` in integer cents and a ``version`` that grows with every change (the ETag);
- ``update`` applies a change only at the version the caller read (optimistic concurrency);
- ``debit`` takes money at most once per idempotency key: a repeat with the same key returns the
  first outcome, whatever happened since (a refusal too); the same key with another user or amount
  is a conflict.
"""

from __future__ import annotations

import asyncio
from typing import Literal, Protocol

from pydantic import BaseModel, Field
from sample_common.lifecycle import InMemory

SEED = [("Ada Lovelace", "ada@example.com"), ("Alan Turing", "alan@example.com"),
        ("Grace Hopper", "grace@example.com")]
SEED_BALANCE = 100_000  # cents

EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


class NewUser(BaseModel):
    name: str = Field(min_length=1, max_length=100, description="Full name")
    email: str = Field(pattern=EMAIL, max_length=254, description="E-mail address")
    balance: int = Field(default=0, ge=0, description="Balance in cents")


class User(NewUser):
    id: int
    version: int = Field(description="Grows with every change; the ETag of GET /users/{id}")


class UserPatch(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=100, description="Full name")
    email: str | None = Field(default=None, pattern=EMAIL, max_length=254, description="E-mail address")


class Debit(BaseModel):
    amount: int = Field(gt=0, description="Cents to take from the balance")


Outcome = Literal["applied", "insufficient", "not_found"]


class DebitResult(BaseModel):
    """What a debit did; a repeat of its idempotency key returns this again."""

    key: str
    user_id: int
    amount: int
    outcome: Outcome
    balance: int | None = Field(default=None, description="The balance right after an applied debit")


class NotFound(Exception):
    pass


class StaleVersion(Exception):
    pass


class KeyConflict(Exception):
    """The idempotency key was used before, for another user or amount."""


class Store(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def ready(self) -> bool: ...

    async def list(self) -> list[User]: ...

    async def get(self, user_id: int) -> User | None: ...

    async def add(self, new: NewUser) -> User: ...

    async def update(self, user_id: int, patch: UserPatch, version: int) -> User: ...

    async def debit(self, user_id: int, key: str, amount: int) -> DebitResult: ...


def replayed(first: DebitResult, user_id: int, amount: int) -> DebitResult:
    """The first result of a key, if this call asks for the same debit; KeyConflict if not."""
    if (first.user_id, first.amount) != (user_id, amount):
        raise KeyConflict(f"Idempotency-Key {first.key!r} was used for a debit of {first.amount} "
                          f"from user {first.user_id}")
    return first


class MemoryStore(InMemory):
    """The contract in one process's memory: for unit tests and local runs, not for replicas."""

    def __init__(self, seed: bool = True) -> None:
        self._users: dict[int, User] = {}
        self._debits: dict[str, DebitResult] = {}
        self._lock = asyncio.Lock()
        for i, (name, email) in enumerate(SEED if seed else [], start=1):
            self._users[i] = User(id=i, name=name, email=email, balance=SEED_BALANCE, version=1)

    async def list(self) -> list[User]:
        return list(self._users.values())

    async def get(self, user_id: int) -> User | None:
        return self._users.get(user_id)

    async def add(self, new: NewUser) -> User:
        async with self._lock:
            user = User(id=len(self._users) + 1, version=1, **new.model_dump())
            self._users[user.id] = user
        return user

    async def update(self, user_id: int, patch: UserPatch, version: int) -> User:
        async with self._lock:
            user = self._users.get(user_id)
            if user is None:
                raise NotFound(user_id)
            if user.version != version:
                raise StaleVersion(user.version)
            changed = user.model_copy(update={**patch.model_dump(exclude_none=True), "version": version + 1})
            self._users[user_id] = changed
        return changed

    async def debit(self, user_id: int, key: str, amount: int) -> DebitResult:
        async with self._lock:
            if key in self._debits:
                return replayed(self._debits[key], user_id, amount)
            user = self._users.get(user_id)
            result = DebitResult(key=key, user_id=user_id, amount=amount, outcome="not_found")
            if user is not None and user.balance < amount:
                result.outcome = "insufficient"
            elif user is not None:
                balance = user.balance - amount
                self._users[user_id] = user.model_copy(update={"balance": balance, "version": user.version + 1})
                result.outcome, result.balance = "applied", balance
            self._debits[key] = result
        return result
