"""Fixtures shared by the gateway's tests: a real, migrated SQLite file."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway import db as database
from gateway.ledger import Ledger

SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[database.Database]:
    """A migrated SQLite database in a fresh file."""
    url = f"sqlite:///{tmp_path / 'gamegate.db'}"
    database.upgrade(url)
    opened = database.Database(url)
    opened.open()
    yield opened
    opened.close()


@pytest.fixture
def ledger(db: database.Database) -> Ledger:
    """The ledger over the test database."""
    return Ledger(db)
