"""A PostgreSQL server for the store tests, shared by the session; a fresh database per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest

from tests.support import postgres


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    with postgres.server() as conninfo:
        yield conninfo


@pytest.fixture
def database(postgres_server: str) -> str:
    """The conninfo of an empty database of the test's own."""
    name = f"t{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return postgres_server.replace("dbname=test", f"dbname={name}")
