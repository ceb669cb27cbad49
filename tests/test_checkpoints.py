"""Tests of SQLite's WAL checkpoints, which run off the event loop's thread."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway import db as database

WAIT_SECONDS = 10.0


async def fresh(tmp_path: Path) -> database.SqliteDatabase:
    """Return an open, migrated SQLite database in a fresh file."""
    url = f"sqlite:///{tmp_path / 'gamegate.db'}"
    database.upgrade(url)
    opened = database.Database(url)
    await opened.open()
    assert isinstance(opened, database.SqliteDatabase)
    return opened


async def write_players(db: database.Database, first: int, count: int) -> None:
    """Commit one player a transaction."""
    for number in range(first, first + count):
        async with db.transaction() as tx:
            await tx.run(
                "INSERT INTO players (operator, external_id, blocked, created_at)"
                " VALUES (?, ?, ?, ?)",
                "casino-a",
                f"p{number}",
                False,
                "2026-01-01T00:00:00.000000Z",
            )


def wal_state(path: Path) -> tuple[int, int]:
    """Return (frames in the WAL, frames copied back), as another connection sees."""
    with sqlite3.connect(path) as probe:
        _, frames, copied = probe.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return frames, copied


async def until(condition: Callable[[], bool], seconds: float = WAIT_SECONDS) -> bool:
    """Poll a condition until it holds or the time runs out."""
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.05)
    return False


class TestCheckpoints:
    async def test_commits_leave_checkpoints_to_the_thread(self, tmp_path: Path):
        """The writer's connection never checkpoints; the thread copies the WAL back."""
        db = await fresh(tmp_path)
        try:
            connection = db._require()
            (automatic,) = connection.execute("PRAGMA wal_autocheckpoint").fetchone()
            await write_players(db, 0, 50)

            copied = await until(
                lambda: (state := wal_state(tmp_path / "gamegate.db"))[0] == state[1]
            )
        finally:
            await db.close()

        assert automatic == 0
        assert copied
        with sqlite3.connect(tmp_path / "gamegate.db") as check:
            assert check.execute("SELECT count(*) FROM players").fetchone() == (50,)

    async def test_a_long_wal_is_restarted_after_a_commit(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ):
        """Past the frame limit the writer restarts the WAL, so it stops growing."""
        monkeypatch.setattr(database, "WAL_RESTART_FRAMES", 20)
        db = await fresh(tmp_path)
        try:
            checkpointer = db._checkpointer
            assert checkpointer is not None
            await write_players(db, 0, 100)
            flagged = await until(lambda: checkpointer.restart_due)
            await write_players(db, 100, 1)

            frames, _ = wal_state(tmp_path / "gamegate.db")
        finally:
            await db.close()

        assert flagged
        assert not checkpointer.restart_due
        assert frames < 20

    async def test_close_stops_the_thread(self, tmp_path: Path):
        """Closing the database stops its checkpoint thread."""
        db = await fresh(tmp_path)
        checkpointer = db._checkpointer
        assert checkpointer is not None and checkpointer.is_alive()

        await db.close()

        assert not checkpointer.is_alive()
