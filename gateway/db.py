"""The database: one connection per process, transactions, and migrations.

SQLite (WAL) is the embedded default. Statements are written once with `?`
placeholders and always parameterized. A write transaction on SQLite is
`BEGIN IMMEDIATE`, so writers are serialized across processes sharing the
file, and an asyncio lock keeps coroutines of one process from interleaving
inside one transaction.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import structlog
from yoyo import get_backend, read_migrations

from contracts.errors import ConfigError

log = structlog.get_logger(__name__)

Row = tuple[Any, ...]
SQLITE_PREFIX = "sqlite:///"


class Transaction:
    """Statements inside one open transaction."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    async def one(self, sql: str, *params: object) -> Row | None:
        """Return the first row of a query, or None."""
        row: Row | None = self._connection.execute(sql, params).fetchone()
        return row

    async def all(self, sql: str, *params: object) -> list[Row]:
        """Return every row of a query."""
        return self._connection.execute(sql, params).fetchall()

    async def run(self, sql: str, *params: object) -> int:
        """Execute a statement and return how many rows it changed."""
        return self._connection.execute(sql, params).rowcount

    async def insert(self, sql: str, *params: object) -> int:
        """Execute an INSERT and return the new row's id."""
        cursor = self._connection.execute(sql, params)
        assert cursor.lastrowid is not None  # an INSERT into a rowid table has one

        return cursor.lastrowid


class Database:
    """A SQLite database file shared by the ledger, wallet and sessions."""

    dialect = "sqlite"

    def __init__(self, url: str) -> None:
        self.url = url
        self.path = sqlite_path(url)
        self._connection: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()

    def open(self) -> None:
        """Open the connection with the settings the ledger relies on."""
        connection = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=30.0
        )
        connection.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a killed process; only a power loss can
        # drop the newest commits, which the provider's retries then replay.
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute("PRAGMA foreign_keys=ON")
        self._connection = connection

    def close(self) -> None:
        """Close the connection; safe to call twice."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """Run statements in one write transaction, committed on success."""
        connection = self._require()
        async with self._lock:
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield Transaction(connection)
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    async def one(self, sql: str, *params: object) -> Row | None:
        """Return the first row of a read outside any transaction."""
        row: Row | None = self._require().execute(sql, params).fetchone()
        return row

    async def all(self, sql: str, *params: object) -> list[Row]:
        """Return every row of a read outside any transaction."""
        return self._require().execute(sql, params).fetchall()

    def _require(self) -> sqlite3.Connection:
        if self._connection is None:
            raise RuntimeError("the database is not open")
        return self._connection


def sqlite_path(url: str) -> str:
    """Return the file path of a `sqlite:///path` URL; refuse anything else."""
    if not url.startswith(SQLITE_PREFIX) or len(url) == len(SQLITE_PREFIX):
        raise ConfigError(f"database: expected sqlite:///PATH, got {url!r}")
    return url[len(SQLITE_PREFIX) :]


def migrations_dir(dialect: str) -> Path:
    """Return the folder of SQL migrations for one database dialect."""
    return Path(str(resources.files("gateway") / "migrations" / dialect))


def upgrade(url: str) -> Sequence[str]:
    """Apply every pending migration to the database; return their ids."""
    if url.startswith(SQLITE_PREFIX):
        Path(sqlite_path(url)).parent.mkdir(parents=True, exist_ok=True)
    backend = get_backend(url)
    migrations = read_migrations(str(migrations_dir("sqlite")))
    with backend.lock():
        pending = backend.to_apply(migrations)
        backend.apply_migrations(pending)
    applied = [migration.id for migration in pending]
    log.info("db.upgraded", applied=applied)

    return applied
