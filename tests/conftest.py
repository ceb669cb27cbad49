"""Fixtures shared by the gateway's tests: real, migrated databases.

The `db` fixture runs each test on a fresh SQLite file and, when the variable
`GAMEGATE_TEST_POSTGRES_DSN` names a PostgreSQL server, again in a fresh schema
of that server, dropped afterwards with everything in it (yoyo's tables too).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
import pytest
import structlog

from gateway import db as database
from gateway.ledger import Ledger

SHARED = Path(__file__).resolve().parents[2] / "shared"
POSTGRES_DSN_VARIABLE = "GAMEGATE_TEST_POSTGRES_DSN"
POSTGRES_DSN = os.environ.get(POSTGRES_DSN_VARIABLE, "")
NO_POSTGRES = pytest.mark.skipif(
    not POSTGRES_DSN, reason=f"set {POSTGRES_DSN_VARIABLE} to test on PostgreSQL"
)


@contextmanager
def postgres_schema(dsn: str) -> Iterator[str]:
    """Yield the URL of a new, empty schema on the server, dropped on exit."""
    schema = f"t_{secrets.token_hex(6)}"
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
        try:
            yield with_search_path(dsn, schema)
        finally:
            # A test that left a connection inside a transaction must not
            # hang the suite: the drop gives up instead of waiting forever.
            admin.execute("SET lock_timeout = '10s'")
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


def with_search_path(dsn: str, schema: str) -> str:
    """Return the DSN with its connections' search path set to one schema."""
    parts = urlsplit(dsn)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "options"]
    query.append(("options", f"-csearch_path={schema}"))

    return urlunsplit(parts._replace(query=urlencode(query)))


@pytest.fixture(autouse=True)
def _default_logging() -> Iterator[None]:
    """Give each test structlog's defaults, whatever an earlier test configured."""
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """The URL of a fresh, unmigrated PostgreSQL schema; skipped without a server."""
    if not POSTGRES_DSN:
        pytest.skip(f"set {POSTGRES_DSN_VARIABLE} to test on PostgreSQL")
    with postgres_schema(POSTGRES_DSN) as url:
        yield url


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=NO_POSTGRES)],
)
async def db(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[database.Database]:
    """A migrated database, fresh for each test, on each backend."""
    with _fresh_url(request.param, tmp_path) as url:
        database.upgrade(url)
        opened = database.Database(url)
        await opened.open()
        try:
            yield opened
        finally:
            await opened.close()


@contextmanager
def _fresh_url(dialect: str, tmp_path: Path) -> Iterator[str]:
    if dialect == "sqlite":
        yield f"sqlite:///{tmp_path / 'gamegate.db'}"
        return
    with postgres_schema(POSTGRES_DSN) as url:
        yield url


@pytest.fixture
def ledger(db: database.Database) -> Ledger:
    """The ledger over the test database."""
    return Ledger(db)
