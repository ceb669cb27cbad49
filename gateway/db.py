"""The database: SQLite or PostgreSQL, transactions, and migrations.

Statements are written once with `?` placeholders and always parameterized;
each backend runs them as they are or translated once to its own style.
`Database(url)` answers the backend the URL names: `sqlite:///PATH` or
`postgresql://…`.

SQLite (WAL) is the embedded default: one connection per process, and a write
transaction is `BEGIN IMMEDIATE`, so writers are serialized across processes
sharing the file, while an asyncio lock keeps coroutines of one process from
interleaving inside one transaction.

PostgreSQL is the store shared by many gateway processes: a pool of
connections, each transaction READ COMMITTED, and per-player serialization by
row locks that the ledger takes with `lock_clause`. A write that breaks a
uniqueness rule raises `Conflict` on both backends, so the ledger can judge
the request again once the competing transaction is visible.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

import psycopg
import structlog
from psycopg import errors as pg_errors
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool
from yoyo import get_backend, read_migrations

from contracts.errors import ConfigError

log = structlog.get_logger(__name__)

Row = tuple[Any, ...]
SQLITE_PREFIX = "sqlite:///"
POSTGRESQL_PREFIXES = ("postgresql://", "postgres://")
YOYO_POSTGRESQL_SCHEME = "postgresql+psycopg"

# One gateway process runs on one core: a few connections keep it busy while
# others wait on row locks, and many processes must fit the server's limit.
POOL_MIN_SIZE = 1
POOL_MAX_SIZE = 10
POOL_OPEN_TIMEOUT = 10.0

_SQLITE_UNIQUE = {
    sqlite3.SQLITE_CONSTRAINT_UNIQUE,
    sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY,
}

# SQLite copies its WAL back into the database file every 1000 pages, by
# default in the connection that commits: the copy and its fsyncs then stall
# the event loop for milliseconds every hundred or so callbacks, which set
# both the callback rate and its p99. `_Checkpointer` runs those checkpoints
# in a thread of its own instead, so a commit only appends to the WAL. A
# passive checkpoint never finishes while writes keep coming, so past
# `WAL_RESTART_FRAMES` it catches up once more and asks the event loop's
# thread to restart the WAL right after its next commit: the short remainder
# then stalls one callback for a few milliseconds, where a restart from the
# thread would make the writer sleep in SQLite's busy handler, which waits in
# steps of up to 100 ms. Durability is unchanged: with synchronous=NORMAL
# the WAL is synced at every checkpoint, whoever runs it.
CHECKPOINT_SECONDS = 0.1
WAL_RESTART_FRAMES = 16384
WAL_SIZE_LIMIT = 64 * 1024 * 1024
SQLITE_BUSY_SECONDS = 30.0
RESTART_BUSY_MILLISECONDS = 5


class Conflict(Exception):
    """A write broke a uniqueness rule, usually because another transaction won."""


class Transaction(ABC):
    """Statements inside one open transaction."""

    @abstractmethod
    async def one(self, sql: str, *params: object) -> Row | None:
        """Return the first row of a query, or None."""

    @abstractmethod
    async def all(self, sql: str, *params: object) -> list[Row]:
        """Return every row of a query."""

    @abstractmethod
    async def run(self, sql: str, *params: object) -> int:
        """Execute a statement and return how many rows it changed."""

    @abstractmethod
    async def insert(self, sql: str, *params: object) -> int:
        """Execute an INSERT into a table with an `id` column; return the new id."""


# Not an ABC, although each backend implements every method: callers write
# `Database(url)`, and a type checker refuses to instantiate an abstract class.
class Database:
    """The gateway's database; `Database(url)` answers the backend the URL names."""

    dialect: ClassVar[str]
    # Appended to a SELECT that joins `balances b`, it locks the balance rows
    # read until the transaction ends; empty where the whole database is locked.
    lock_clause: ClassVar[str]

    def __new__(cls, url: str) -> Database:
        """Create the backend for the URL's dialect, or the subclass asked for."""
        backend = _BACKENDS[dialect_of(url)] if cls is Database else cls
        return super().__new__(backend)

    def __init__(self, url: str) -> None:
        self.url = url

    async def open(self) -> None:
        """Connect with the settings the ledger relies on."""
        raise NotImplementedError

    async def close(self) -> None:
        """Disconnect; safe to call twice."""
        raise NotImplementedError

    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        """Run statements in one write transaction, committed on success."""
        raise NotImplementedError

    async def one(self, sql: str, *params: object) -> Row | None:
        """Return the first row of a read outside any transaction."""
        raise NotImplementedError

    async def all(self, sql: str, *params: object) -> list[Row]:
        """Return every row of a read outside any transaction."""
        raise NotImplementedError

    @asynccontextmanager
    async def exclusive(self, key: str) -> AsyncIterator[None]:
        """Hold a lock named `key` across processes while the block runs.

        For work that must stay in order across gateway processes but cannot
        sit inside one database transaction (a call to the casino's wallet).
        SQLite serves one process: the caller's own lock is enough there.
        """
        yield


class _SqliteTransaction(Transaction):
    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    async def one(self, sql: str, *params: object) -> Row | None:
        row: Row | None = _sqlite_execute(self._connection, sql, params).fetchone()
        return row

    async def all(self, sql: str, *params: object) -> list[Row]:
        return _sqlite_execute(self._connection, sql, params).fetchall()

    async def run(self, sql: str, *params: object) -> int:
        return _sqlite_execute(self._connection, sql, params).rowcount

    async def insert(self, sql: str, *params: object) -> int:
        cursor = _sqlite_execute(self._connection, sql, params)
        assert cursor.lastrowid is not None  # an INSERT into a rowid table has one

        return cursor.lastrowid


class SqliteDatabase(Database):
    """A SQLite database file shared by the ledger, wallet and sessions."""

    dialect = "sqlite"
    lock_clause = ""  # BEGIN IMMEDIATE already holds the file's write lock

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.path = sqlite_path(url)
        self._connection: sqlite3.Connection | None = None
        self._checkpointer: _Checkpointer | None = None
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        """Open the connection in WAL mode with foreign keys enforced."""
        connection = sqlite3.connect(
            self.path,
            isolation_level=None,
            check_same_thread=False,
            timeout=SQLITE_BUSY_SECONDS,
        )
        (mode,) = connection.execute("PRAGMA journal_mode=WAL").fetchone()
        # NORMAL in WAL mode survives a killed process; only a power loss can
        # drop the newest commits, which the provider's retries then replay.
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute("PRAGMA foreign_keys=ON")
        if mode == "wal":
            connection.execute("PRAGMA wal_autocheckpoint=0")
            connection.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
            self._checkpointer = _Checkpointer(self.path)
            self._checkpointer.start()
        self._connection = connection

    async def close(self) -> None:
        """Close the connection; safe to call twice."""
        if self._checkpointer is not None:
            self._checkpointer.stop()
            self._checkpointer = None
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
                yield _SqliteTransaction(connection)
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")
            if self._checkpointer is not None and self._checkpointer.restart_due:
                self._checkpointer.restart(connection)

    async def one(self, sql: str, *params: object) -> Row | None:
        """Return the first row of a read outside any transaction."""
        row: Row | None = _sqlite_execute(self._require(), sql, params).fetchone()
        return row

    async def all(self, sql: str, *params: object) -> list[Row]:
        """Return every row of a read outside any transaction."""
        return _sqlite_execute(self._require(), sql, params).fetchall()

    def _require(self) -> sqlite3.Connection:
        if self._connection is None:
            raise RuntimeError("the database is not open")
        return self._connection


class _Checkpointer(threading.Thread):
    """Checkpoints one SQLite file's WAL, every interval, off the event loop."""

    def __init__(self, path: str) -> None:
        super().__init__(name="gamegate-sqlite-checkpoint", daemon=True)
        self._path = path
        self._stopping = threading.Event()
        # Set here once the WAL is long; the event loop's thread restarts it
        # and clears it, and this thread leaves the file alone meanwhile.
        self.restart_due = False

    def run(self) -> None:
        """Checkpoint until stopped, with a connection of the thread's own."""
        connection = sqlite3.connect(self._path, isolation_level=None, timeout=30.0)
        try:
            while not self._stopping.wait(CHECKPOINT_SECONDS):
                if not self.restart_due:
                    self._checkpoint(connection)
        finally:
            connection.close()

    def restart(self, connection: sqlite3.Connection) -> None:
        """Restart the WAL on the writer's connection, between two transactions.

        A reader in another process may still use the WAL; rather than stall
        the event loop waiting for it, the restart gives up within a few
        milliseconds and a later one tries again.
        """
        try:
            connection.execute(f"PRAGMA busy_timeout={RESTART_BUSY_MILLISECONDS}")
            connection.execute("PRAGMA wal_checkpoint(RESTART)")
        except sqlite3.Error as error:
            log.warning("db.checkpoint_failed", error=str(error))
        finally:
            busy = round(SQLITE_BUSY_SECONDS * 1000)
            connection.execute(f"PRAGMA busy_timeout={busy}")
            self.restart_due = False

    def stop(self) -> None:
        """Stop after the checkpoint in progress, if any."""
        self._stopping.set()
        self.join()

    def _checkpoint(self, connection: sqlite3.Connection) -> None:
        try:
            _, frames, _ = connection.execute(
                "PRAGMA wal_checkpoint(PASSIVE)"
            ).fetchone()
            if frames > WAL_RESTART_FRAMES:
                connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
                self.restart_due = True
        except sqlite3.Error as error:
            # The next round tries again; until one succeeds the WAL grows.
            log.warning("db.checkpoint_failed", error=str(error))


def _sqlite_execute(
    connection: sqlite3.Connection, sql: str, params: Sequence[object]
) -> sqlite3.Cursor:
    try:
        return connection.execute(sql, params)
    except sqlite3.IntegrityError as error:
        if error.sqlite_errorcode in _SQLITE_UNIQUE:
            raise Conflict(str(error)) from error
        raise


PgConnection = psycopg.AsyncConnection[TupleRow]


class _PostgresTransaction(Transaction):
    def __init__(self, connection: PgConnection) -> None:
        self._connection = connection

    async def one(self, sql: str, *params: object) -> Row | None:
        cursor = await _pg_execute(self._connection, _pg_sql(sql), params)
        return await cursor.fetchone()

    async def all(self, sql: str, *params: object) -> list[Row]:
        cursor = await _pg_execute(self._connection, _pg_sql(sql), params)
        return await cursor.fetchall()

    async def run(self, sql: str, *params: object) -> int:
        cursor = await _pg_execute(self._connection, _pg_sql(sql), params)
        return cursor.rowcount

    async def insert(self, sql: str, *params: object) -> int:
        cursor = await _pg_execute(self._connection, _pg_insert_sql(sql), params)
        row = await cursor.fetchone()
        assert row is not None  # RETURNING answers one row per inserted row

        return int(row[0])


class PostgresDatabase(Database):
    """A PostgreSQL database shared by any number of gateway processes."""

    dialect = "postgresql"
    lock_clause = " FOR UPDATE OF b"

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self._pool: AsyncConnectionPool[PgConnection] | None = None

    async def open(self) -> None:
        """Open the pool and wait until its first connection answers."""
        pool: AsyncConnectionPool[PgConnection] = AsyncConnectionPool(
            self.url,
            min_size=POOL_MIN_SIZE,
            max_size=POOL_MAX_SIZE,
            # Autocommit lets a read outside a transaction end at once; every
            # write transaction opens with an explicit BEGIN instead.
            kwargs={"autocommit": True},
            configure=_configure,
            open=False,
        )
        await pool.open(wait=True, timeout=POOL_OPEN_TIMEOUT)
        self._pool = pool

    async def close(self) -> None:
        """Close the pool and its connections; safe to call twice."""
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """Run statements in one READ COMMITTED transaction, committed on success."""
        async with (
            self._require().connection() as connection,
            connection.transaction(),
        ):
            yield _PostgresTransaction(connection)

    async def one(self, sql: str, *params: object) -> Row | None:
        """Return the first row of a read outside any transaction."""
        async with self._require().connection() as connection:
            cursor = await _pg_execute(connection, _pg_sql(sql), params)
            return await cursor.fetchone()

    async def all(self, sql: str, *params: object) -> list[Row]:
        """Return every row of a read outside any transaction."""
        async with self._require().connection() as connection:
            cursor = await _pg_execute(connection, _pg_sql(sql), params)
            return await cursor.fetchall()

    @asynccontextmanager
    async def exclusive(self, key: str) -> AsyncIterator[None]:
        """Hold a PostgreSQL advisory lock named `key` while the block runs."""
        async with self._require().connection() as connection:
            await connection.execute("SELECT pg_advisory_lock(hashtext(%s))", (key,))
            try:
                yield
            finally:
                await connection.execute(
                    "SELECT pg_advisory_unlock(hashtext(%s))", (key,)
                )

    def _require(self) -> AsyncConnectionPool[PgConnection]:
        if self._pool is None:
            raise RuntimeError("the database is not open")
        return self._pool


async def _configure(connection: PgConnection) -> None:
    # psycopg writes the level into each BEGIN, so no server default applies.
    await connection.set_isolation_level(psycopg.IsolationLevel.READ_COMMITTED)


async def _pg_execute(
    connection: PgConnection, sql: str, params: Sequence[object]
) -> psycopg.AsyncCursor[TupleRow]:
    try:
        return await connection.execute(sql, params)
    except pg_errors.UniqueViolation as error:
        raise Conflict(str(error)) from error


@functools.lru_cache(maxsize=1024)
def _pg_sql(sql: str) -> str:
    # psycopg reads `%` as the start of a placeholder, so a literal one doubles.
    return sql.replace("%", "%%").replace("?", "%s")


@functools.lru_cache(maxsize=256)
def _pg_insert_sql(sql: str) -> str:
    return _pg_sql(sql) + " RETURNING id"


_BACKENDS: dict[str, type[Database]] = {
    SqliteDatabase.dialect: SqliteDatabase,
    PostgresDatabase.dialect: PostgresDatabase,
}


def dialect_of(url: str) -> str:
    """Return the dialect a database URL names; refuse a URL of no known backend."""
    if url.startswith(SQLITE_PREFIX):
        return SqliteDatabase.dialect
    if url.startswith(POSTGRESQL_PREFIXES):
        return PostgresDatabase.dialect
    raise ConfigError(
        f"database: expected sqlite:///PATH or postgresql://…, got {url[:32]!r}"
    )


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
    dialect = dialect_of(url)
    if dialect == SqliteDatabase.dialect:
        Path(sqlite_path(url)).parent.mkdir(parents=True, exist_ok=True)
    backend = get_backend(_yoyo_url(url))
    migrations = read_migrations(str(migrations_dir(dialect)))
    try:
        with backend.lock():
            pending = backend.to_apply(migrations)
            backend.apply_migrations(pending)
    finally:
        backend.connection.close()
    applied = [migration.id for migration in pending]
    log.info("db.upgraded", dialect=dialect, applied=applied)

    return applied


def _yoyo_url(url: str) -> str:
    # yoyo's plain `postgresql` scheme means psycopg2; psycopg 3 has its own.
    if dialect_of(url) == PostgresDatabase.dialect:
        return YOYO_POSTGRESQL_SCHEME + url[url.index("://") :]
    return url
