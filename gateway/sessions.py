"""Game sessions: which provider instance launched a game for which player.

A session pins its provider instance: every later callback of that session
belongs to the instance recorded here, whatever the routing says by then.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from contracts.launch import Mode
from gateway import clock
from gateway.db import Database


@dataclass(frozen=True, slots=True)
class GameSession:
    """One launched game: its player, provider instance and lifetime."""

    id: str
    token: str
    operator: str
    player: str
    provider: str
    game: str
    currency: str
    mode: Mode
    created_at: datetime
    expires_at: datetime


class Sessions:
    """Opens and finds game sessions in the gateway's database."""

    def __init__(self, db: Database, ttl: timedelta) -> None:
        self._db = db
        self._ttl = ttl

    async def open(
        self,
        *,
        operator: str,
        player: str,
        provider: str,
        game: str,
        currency: str,
        mode: Mode,
    ) -> GameSession:
        """Record a new session for a player whose account already exists."""
        created = clock.now()
        session = GameSession(
            id=str(uuid.uuid4()),
            token=secrets.token_urlsafe(24),
            operator=operator,
            player=player,
            provider=provider,
            game=game,
            currency=currency,
            mode=mode,
            created_at=created,
            expires_at=created + self._ttl,
        )
        async with self._db.transaction() as tx:
            await tx.run(
                "INSERT INTO game_sessions (id, token, operator, player_id, provider,"
                " game, currency, mode, created_at, expires_at)"
                " SELECT ?, ?, ?, id, ?, ?, ?, ?, ?, ? FROM players"
                " WHERE operator = ? AND external_id = ?",
                session.id,
                session.token,
                operator,
                provider,
                game,
                currency,
                mode.value,
                clock.to_text(created),
                clock.to_text(session.expires_at),
                operator,
                player,
            )

        return session

    async def get(self, session_id: str) -> GameSession | None:
        """Return a session by its id, or None."""
        row = await self._db.one(
            "SELECT s.id, s.token, s.operator, p.external_id, s.provider, s.game,"
            " s.currency, s.mode, s.created_at, s.expires_at FROM game_sessions s"
            " JOIN players p ON p.id = s.player_id WHERE s.id = ?",
            session_id,
        )
        if row is None:
            return None

        return GameSession(
            id=row[0],
            token=row[1],
            operator=row[2],
            player=row[3],
            provider=row[4],
            game=row[5],
            currency=row[6],
            mode=Mode(row[7]),
            created_at=clock.from_text(row[8]),
            expires_at=clock.from_text(row[9]),
        )

    async def repin(self, session: GameSession, provider: str) -> GameSession:
        """Move a session that no provider has seen yet to another instance.

        Only a launch that failed before reaching its provider may do this:
        the provider never had the session's token, so none of its callbacks
        can name it.
        """
        async with self._db.transaction() as tx:
            await tx.run(
                "UPDATE game_sessions SET provider = ? WHERE id = ?",
                provider,
                session.id,
            )

        return replace(session, provider=provider)
