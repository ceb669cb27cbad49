"""Requests named by their session token alone: the ledger finds who and in what.

Several protocols (an authenticate call with a token only, a live casino's
session check, a balance call without a currency) identify the player by
the session token the gateway issued at launch. The ledger resolves such a
request from the game session, pinned to the instance that launched it.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from contracts.launch import Mode
from contracts.wallet import Operation, Profile, Status, WalletOperation, WalletRequest
from gateway.db import Database
from gateway.ledger import Ledger, player_ref
from gateway.sessions import GameSession, Sessions

PROVIDER = "live-direct"


async def launched(ledger: Ledger, db: Database, ttl: int = 3600) -> GameSession:
    """Fund a player and open a session for them at the test instance."""
    await ledger.transfer(
        "casino-a",
        "player-1",
        operation=Operation.CREDIT,
        amount=1000,
        currency="EUR",
        reference="fund-1",
    )
    return await Sessions(db, timedelta(seconds=ttl)).open(
        operator="casino-a",
        player="player-1",
        provider=PROVIDER,
        game="live:table",
        currency="EUR",
        mode=Mode.REAL,
    )


async def test_token_alone_is_resolved_to_its_player_and_currency(
    ledger: Ledger, db: Database
) -> None:
    """A balance asked by token only answers the session's player and currency."""
    session = await launched(ledger, db)

    outcome = await ledger.apply(
        PROVIDER,
        Profile(),
        WalletRequest(player="", currency="", session_token=session.token),
    )

    assert outcome.status is Status.OK
    assert outcome.balance == 1000
    assert outcome.currency == "EUR"
    assert outcome.player == player_ref("casino-a", "player-1")


async def test_debit_by_token_alone_moves_the_sessions_player_money(
    ledger: Ledger, db: Database
) -> None:
    """A bet that names only its session is taken from that session's balance."""
    session = await launched(ledger, db)
    bet = WalletOperation(operation=Operation.DEBIT, transaction_id="b1", amount=300)

    outcome = await ledger.apply(
        PROVIDER,
        Profile(),
        WalletRequest(
            player="", currency="", session_token=session.token, operations=(bet,)
        ),
    )

    assert outcome.status is Status.OK
    assert await ledger.balance("casino-a", "player-1", "EUR") == 700


@pytest.mark.parametrize(
    ("provider", "token", "status"),
    [
        ("other-instance", None, Status.INVALID_SESSION),
        (PROVIDER, "not-issued", Status.INVALID_SESSION),
    ],
)
async def test_token_of_another_instance_or_never_issued_is_refused(
    ledger: Ledger, db: Database, provider: str, token: str | None, status: Status
) -> None:
    """A session belongs to the instance that launched it and to no other."""
    session = await launched(ledger, db)

    outcome = await ledger.apply(
        provider,
        Profile(),
        WalletRequest(player="", currency="", session_token=token or session.token),
    )

    assert outcome.status is status
    assert outcome.balance is None


async def test_authenticate_refuses_an_expired_session(
    ledger: Ledger, db: Database
) -> None:
    """An authenticate call checks the session even though it moves no money."""
    session = await launched(ledger, db, ttl=-1)

    checked = await ledger.apply(
        PROVIDER,
        Profile(),
        WalletRequest(
            player="", currency="", session_token=session.token, authenticate=True
        ),
    )
    read = await ledger.apply(
        PROVIDER,
        Profile(),
        WalletRequest(player="", currency="", session_token=session.token),
    )

    assert checked.status is Status.SESSION_EXPIRED
    assert read.status is Status.OK


async def test_token_of_another_player_than_named_is_refused(
    ledger: Ledger, db: Database
) -> None:
    """A request naming a player and another player's token is refused."""
    session = await launched(ledger, db)
    await ledger.open_account("casino-a", "player-2", "EUR")

    outcome = await ledger.apply(
        PROVIDER,
        Profile(),
        WalletRequest(
            player=player_ref("casino-a", "player-2"),
            currency="",
            session_token=session.token,
        ),
    )

    assert outcome.status is Status.INVALID_SESSION
