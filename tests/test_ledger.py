"""The ledger's money rules, each pinned by a test named after it."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import orjson
import pytest

from contracts.launch import Mode
from contracts.money import MAX_MINOR
from contracts.wallet import (
    CreditKind,
    Operation,
    Profile,
    Status,
    WalletOperation,
    WalletRequest,
)
from gateway.db import Database
from gateway.ledger import Ledger, player_ref
from gateway.sessions import Sessions

PROVIDER = "studio-direct"
PROFILE = Profile()
PLAYER = player_ref("casino-a", "player-1")


def debit(tx: str, amount: int) -> WalletOperation:
    """Return a debit operation."""
    return WalletOperation(operation=Operation.DEBIT, transaction_id=tx, amount=amount)


def credit(tx: str, amount: int, ref: str | None = None) -> WalletOperation:
    """Return a win credit, optionally naming its debit."""
    return WalletOperation(
        operation=Operation.CREDIT,
        transaction_id=tx,
        amount=amount,
        credit_kind=CreditKind.WIN,
        reference_transaction_id=ref,
    )


def rollback(tx: str, original: str) -> WalletOperation:
    """Return a rollback of `original`."""
    return WalletOperation(
        operation=Operation.ROLLBACK,
        transaction_id=tx,
        reference_transaction_id=original,
    )


def request(
    *ops: WalletOperation, round_id: str = "r1", **fields: object
) -> WalletRequest:
    """Return a request of the test player in round `round_id`."""
    values: dict[str, object] = {
        "player": PLAYER,
        "currency": "EUR",
        "game": "studio:game",
        "round_id": round_id,
        "operations": ops,
    }
    values.update(fields)
    return WalletRequest(**values)  # type: ignore[arg-type]


async def funded(ledger: Ledger, amount: int = 1000) -> None:
    """Fund the test player through an operator transfer."""
    await ledger.transfer(
        "casino-a",
        "player-1",
        operation=Operation.CREDIT,
        amount=amount,
        currency="EUR",
        reference="funding-1",
    )


async def balance(ledger: Ledger) -> int | None:
    """Return the test player's EUR balance."""
    return await ledger.balance("casino-a", "player-1", "EUR")


async def test_debit_moves_money_and_answers_the_balance_after(ledger: Ledger) -> None:
    """A debit takes its amount from the balance and answers the new balance."""
    await funded(ledger)

    outcome = await ledger.apply(PROVIDER, PROFILE, request(debit("b1", 300)))

    assert outcome.status is Status.OK
    assert outcome.balance == 700
    assert await balance(ledger) == 700
    assert outcome.operations[0].gateway_transaction_id


async def test_replay_with_same_content_returns_stored_outcome_and_moves_no_money(
    ledger: Ledger,
) -> None:
    """The same id with the same content answers the original and moves nothing."""
    await funded(ledger)
    first = await ledger.apply(PROVIDER, PROFILE, request(debit("b1", 300)))

    again = await ledger.apply(PROVIDER, PROFILE, request(debit("b1", 300)))

    assert again.status is Status.OK
    assert again.operations[0].replay
    assert (
        again.operations[0].gateway_transaction_id
        == first.operations[0].gateway_transaction_id
    )
    assert again.operations[0].processed_at == first.operations[0].processed_at
    assert await balance(ledger) == 700


@pytest.mark.parametrize(
    ("changed", "replayed"),
    [
        ("amount", request(debit("b1", 301))),
        ("round", request(debit("b1", 300), round_id="r2")),
        ("game", request(debit("b1", 300), game="studio:other")),
        ("operation", request(credit("b1", 300))),
        ("player", request(debit("b1", 300), player=player_ref("casino-a", "p2"))),
    ],
)
async def test_replay_with_different_content_is_refused_as_mismatch(
    ledger: Ledger, db: Database, changed: str, replayed: WalletRequest
) -> None:
    """The same id with other content is refused and moves nothing."""
    await funded(ledger)
    await ledger.open_account("casino-a", "p2", "EUR")
    await ledger.apply(PROVIDER, PROFILE, request(debit("b1", 300)))

    outcome = await ledger.apply(PROVIDER, PROFILE, replayed)

    assert outcome.status is Status.TRANSACTION_MISMATCH, changed
    assert outcome.failed_transaction_id == "b1"
    assert await balance(ledger) == 700
    assert await db.one(
        "SELECT count(*) FROM transactions WHERE operation='debit'"
    ) == (1,)


async def test_same_transaction_id_from_two_providers_never_collides(
    ledger: Ledger,
) -> None:
    """Two provider instances may use the same transaction id independently."""
    await funded(ledger)

    first = await ledger.apply("studio-a", PROFILE, request(debit("b1", 100)))
    second = await ledger.apply("studio-b", PROFILE, request(debit("b1", 100)))

    assert first.status is second.status is Status.OK
    assert not second.operations[0].replay
    assert await balance(ledger) == 800


async def test_rollback_of_debit_returns_money_exactly_once(ledger: Ledger) -> None:
    """A rollback returns the debit's amount once; the same rollback is a replay."""
    await funded(ledger)
    await ledger.apply(PROVIDER, PROFILE, request(debit("b1", 300)))

    first = await ledger.apply(PROVIDER, PROFILE, request(rollback("rb1", "b1")))
    again = await ledger.apply(PROVIDER, PROFILE, request(rollback("rb1", "b1")))

    assert first.status is again.status is Status.OK
    assert again.operations[0].replay
    assert await balance(ledger) == 1000


async def test_second_rollback_of_same_debit_is_refused(ledger: Ledger) -> None:
    """A new rollback id for an already rolled-back debit moves nothing."""
    await funded(ledger)
    await ledger.apply(PROVIDER, PROFILE, request(debit("b1", 300)))
    await ledger.apply(PROVIDER, PROFILE, request(rollback("rb1", "b1")))

    outcome = await ledger.apply(PROVIDER, PROFILE, request(rollback("rb2", "b1")))

    assert outcome.status is Status.ALREADY_ROLLED_BACK
    assert await balance(ledger) == 1000


async def test_rollback_of_unknown_transaction_moves_nothing_and_voids_the_original(
    ledger: Ledger,
) -> None:
    """A rollback before its debit is remembered; the late debit moves nothing."""
    await funded(ledger)

    rolled = await ledger.apply(PROVIDER, PROFILE, request(rollback("rb1", "b1")))
    late = await ledger.apply(PROVIDER, PROFILE, request(debit("b1", 300)))
    replayed = await ledger.apply(PROVIDER, PROFILE, request(debit("b1", 300)))

    assert rolled.status is Status.OK
    assert late.status is Status.OK
    assert replayed.operations[0].replay
    assert await balance(ledger) == 1000


async def test_unknown_rollback_answer_follows_the_profile(ledger: Ledger) -> None:
    """A profile may answer an unknown rollback as not found; it is still remembered."""
    await funded(ledger)
    profile = Profile(unknown_rollback=Status.TRANSACTION_NOT_FOUND)

    rolled = await ledger.apply(PROVIDER, profile, request(rollback("rb1", "b1")))
    late = await ledger.apply(PROVIDER, profile, request(debit("b1", 300)))

    assert rolled.status is Status.TRANSACTION_NOT_FOUND
    assert late.status is Status.OK
    assert await balance(ledger) == 1000


async def test_rollback_after_round_settled_is_refused(ledger: Ledger) -> None:
    """Once the round is closed its debits can no longer be rolled back."""
    await funded(ledger)
    await ledger.apply(
        PROVIDER, PROFILE, request(debit("b1", 300), credit("w1", 0), round_closed=True)
    )

    outcome = await ledger.apply(PROVIDER, PROFILE, request(rollback("rb1", "b1")))

    assert outcome.status is Status.ALREADY_SETTLED
    assert await balance(ledger) == 700


async def test_rollback_after_round_settled_is_allowed_by_profile(
    ledger: Ledger,
) -> None:
    """A profile that allows reversing settled rounds gets the debit back."""
    await funded(ledger)
    profile = Profile(reverse_settled=True)
    await ledger.apply(PROVIDER, profile, request(debit("b1", 300), round_closed=True))

    outcome = await ledger.apply(PROVIDER, profile, request(rollback("rb1", "b1")))

    assert outcome.status is Status.OK
    assert await balance(ledger) == 1000


async def test_credit_on_rolled_back_debit_is_refused(ledger: Ledger) -> None:
    """A win naming a rolled-back debit, or in a round of only such, is refused."""
    await funded(ledger)
    await ledger.apply(PROVIDER, PROFILE, request(debit("b1", 300)))
    await ledger.apply(PROVIDER, PROFILE, request(rollback("rb1", "b1")))

    named = await ledger.apply(PROVIDER, PROFILE, request(credit("w1", 500, ref="b1")))
    by_round = await ledger.apply(PROVIDER, PROFILE, request(credit("w2", 500)))

    assert named.status is Status.ALREADY_ROLLED_BACK
    assert by_round.status is Status.ALREADY_ROLLED_BACK
    assert await balance(ledger) == 1000


@pytest.mark.parametrize(
    ("allowed", "status", "after"),
    [(True, Status.OK, 1500), (False, Status.TRANSACTION_NOT_FOUND, 1000)],
)
async def test_credit_without_debit_follows_the_profile(
    ledger: Ledger, allowed: bool, status: Status, after: int
) -> None:
    """A credit in a round with no debit is paid only where the profile allows."""
    await funded(ledger)
    profile = Profile(credit_without_debit=allowed)

    outcome = await ledger.apply(PROVIDER, profile, request(credit("w1", 500)))

    assert outcome.status is status
    assert await balance(ledger) == after


async def test_debit_beyond_balance_is_refused_and_writes_nothing(
    ledger: Ledger, db: Database
) -> None:
    """Insufficient funds refuses the debit; the balance never goes below zero."""
    await funded(ledger, 100)

    outcome = await ledger.apply(PROVIDER, PROFILE, request(debit("b1", 101)))

    assert outcome.status is Status.INSUFFICIENT_FUNDS
    assert outcome.balance == 100
    assert await db.one(
        "SELECT count(*) FROM transactions WHERE provider = ?", PROVIDER
    ) == (0,)


async def test_request_applies_all_operations_or_none(ledger: Ledger) -> None:
    """When one operation of a request is refused, the earlier ones are undone."""
    await funded(ledger, 500)

    outcome = await ledger.apply(
        PROVIDER, PROFILE, request(debit("b1", 300), debit("b2", 300))
    )

    assert outcome.status is Status.INSUFFICIENT_FUNDS
    assert outcome.failed_transaction_id == "b2"
    assert await balance(ledger) == 500
    retry = await ledger.apply(PROVIDER, PROFILE, request(debit("b1", 300)))
    assert not retry.operations[0].replay


async def test_replayed_operation_inside_request_does_not_block_new_ones(
    ledger: Ledger,
) -> None:
    """A request repeating an applied debit and adding a credit applies the credit."""
    await funded(ledger)
    await ledger.apply(PROVIDER, PROFILE, request(debit("b1", 300)))

    outcome = await ledger.apply(
        PROVIDER, PROFILE, request(debit("b1", 300), credit("w1", 450))
    )

    assert outcome.status is Status.OK
    assert [o.replay for o in outcome.operations] == [True, False]
    assert await balance(ledger) == 1150


async def test_blocked_player_cannot_debit_but_is_credited(ledger: Ledger) -> None:
    """A blocked player's debits are refused while credits and rollbacks are paid."""
    await funded(ledger)
    await ledger.apply(PROVIDER, PROFILE, request(debit("b1", 300)))
    await ledger.set_blocked("casino-a", "player-1", True)

    refused = await ledger.apply(
        PROVIDER, PROFILE, request(debit("b2", 100), round_id="r2")
    )
    paid = await ledger.apply(PROVIDER, PROFILE, request(credit("w1", 200)))
    returned = await ledger.apply(
        PROVIDER, PROFILE, request(rollback("rb2", "b2"), round_id="r2")
    )

    assert refused.status is Status.PLAYER_BLOCKED
    assert paid.status is Status.OK
    assert returned.status is Status.OK
    assert await balance(ledger) == 900


async def test_expired_session_refuses_debit_but_takes_credit(
    ledger: Ledger, db: Database
) -> None:
    """Only debits check the session: an expired one still gets its win."""
    await funded(ledger)
    sessions = Sessions(db, ttl=timedelta(seconds=-1))
    session = await sessions.open(
        operator="casino-a",
        player="player-1",
        provider=PROVIDER,
        game="studio:game",
        currency="EUR",
        mode=Mode.REAL,
    )

    refused = await ledger.apply(
        PROVIDER, PROFILE, request(debit("b1", 100), session_token=session.token)
    )
    paid = await ledger.apply(
        PROVIDER, PROFILE, request(credit("w1", 100), session_token=session.token)
    )

    assert refused.status is Status.SESSION_EXPIRED
    assert paid.status is Status.OK
    assert await balance(ledger) == 1100


async def test_unknown_session_token_refuses_debit(ledger: Ledger) -> None:
    """A debit carrying a token the gateway never issued is refused."""
    await funded(ledger)

    outcome = await ledger.apply(
        PROVIDER, PROFILE, request(debit("b1", 100), session_token="not-a-token")
    )

    assert outcome.status is Status.INVALID_SESSION
    assert await balance(ledger) == 1000


async def test_zero_amount_debit_and_credit_are_valid_and_recorded(
    ledger: Ledger, db: Database
) -> None:
    """A free-round bet of zero and a losing win of zero are both recorded."""
    await funded(ledger)

    outcome = await ledger.apply(
        PROVIDER, PROFILE, request(debit("b1", 0), credit("w1", 0), round_closed=True)
    )

    assert outcome.status is Status.OK
    assert await balance(ledger) == 1000
    assert await db.one(
        "SELECT count(*) FROM transactions WHERE provider = ?", PROVIDER
    ) == (2,)


async def test_closed_round_takes_no_new_money(ledger: Ledger) -> None:
    """After a round is closed, new debits and credits in it are refused."""
    await funded(ledger)
    await ledger.apply(PROVIDER, PROFILE, request(debit("b1", 100), round_closed=True))

    late_debit = await ledger.apply(PROVIDER, PROFILE, request(debit("b2", 100)))
    late_credit = await ledger.apply(PROVIDER, PROFILE, request(credit("w1", 100)))

    assert late_debit.status is late_credit.status is Status.ROUND_CLOSED
    assert await balance(ledger) == 900


async def test_closing_request_replayed_after_close_is_answered_as_original(
    ledger: Ledger,
) -> None:
    """A retransmitted round-closing request is a replay, not a closed-round error."""
    await funded(ledger)
    closing = request(debit("b1", 100), credit("w1", 250), round_closed=True)
    await ledger.apply(PROVIDER, PROFILE, closing)

    again = await ledger.apply(PROVIDER, PROFILE, closing)

    assert again.status is Status.OK
    assert all(o.replay for o in again.operations)
    assert await balance(ledger) == 1150


@pytest.mark.parametrize(
    ("player", "currency", "status"),
    [
        (player_ref("casino-a", "nobody"), "EUR", Status.UNKNOWN_PLAYER),
        ("no-separator", "EUR", Status.UNKNOWN_PLAYER),
        (PLAYER, "USD", Status.WRONG_CURRENCY),
    ],
)
async def test_unknown_player_or_currency_is_refused(
    ledger: Ledger, player: str, currency: str, status: Status
) -> None:
    """A player or currency without a balance is refused with no balance."""
    await funded(ledger)

    outcome = await ledger.apply(
        PROVIDER, PROFILE, request(debit("b1", 1), player=player, currency=currency)
    )
    read = await ledger.apply(
        PROVIDER, PROFILE, request(player=player, currency=currency)
    )

    assert outcome.status is read.status is status
    assert outcome.balance is None


async def test_concurrent_debits_on_one_player_never_overdraw(ledger: Ledger) -> None:
    """Of many simultaneous debits exactly the affordable ones succeed."""
    await funded(ledger, 1000)

    outcomes = await asyncio.gather(
        *(
            ledger.apply(
                PROVIDER, PROFILE, request(debit(f"b{i}", 300), round_id=f"r{i}")
            )
            for i in range(10)
        )
    )

    assert sum(o.status is Status.OK for o in outcomes) == 3
    assert await balance(ledger) == 100


async def test_operator_transfer_is_idempotent_by_reference(ledger: Ledger) -> None:
    """Funding a player twice with the same reference credits once."""
    await funded(ledger, 500)
    await funded(ledger, 500)

    assert await balance(ledger) == 500


@pytest.mark.parametrize(
    ("kind", "references"),
    [
        (CreditKind.BONUS, {"bonus_id": "bonus-7"}),
        (CreditKind.JACKPOT, {"jackpot_id": "mega-1"}),
        (CreditKind.PROMO, {"campaign": "spring"}),
        (CreditKind.WIN, {"free_round_id": "fr-3"}),
    ],
)
async def test_credit_kinds_are_distinct_and_keep_their_references(
    ledger: Ledger, db: Database, kind: CreditKind, references: dict[str, str]
) -> None:
    """Bonus, jackpot, promo and free-round credits keep their kind and ids."""
    await funded(ledger)
    paid = WalletOperation(
        operation=Operation.CREDIT,
        transaction_id="c1",
        amount=250,
        credit_kind=kind,
        references=references,
    )

    await ledger.apply(PROVIDER, PROFILE, request(paid))

    row = await db.one(
        "SELECT credit_kind, refs FROM transactions WHERE provider_transaction_id = ?",
        "c1",
    )
    assert row is not None
    assert row[0] == kind.value
    assert orjson.loads(row[1]) == references


async def test_every_transaction_keeps_its_raw_request_for_audit(
    ledger: Ledger, db: Database
) -> None:
    """The callback body that moved money is stored with the transaction."""
    await funded(ledger)
    raw = b'{"action":"bet","amount":100}'

    await ledger.apply(PROVIDER, PROFILE, request(debit("b1", 100), raw=raw))

    row = await db.one(
        "SELECT raw FROM transactions WHERE provider_transaction_id = ?", "b1"
    )
    assert row is not None
    assert bytes(row[0]) == raw


async def test_credit_naming_another_players_debit_is_refused(ledger: Ledger) -> None:
    """A win that names a bet of another player pays nothing."""
    await funded(ledger)
    await ledger.open_account("casino-a", "p2", "EUR")
    await ledger.apply(PROVIDER, PROFILE, request(debit("b1", 300)))
    other = player_ref("casino-a", "p2")

    outcome = await ledger.apply(
        PROVIDER,
        PROFILE,
        request(credit("w1", 500, ref="b1"), player=other, round_id="r-p2"),
    )

    assert outcome.status is Status.TRANSACTION_NOT_FOUND
    assert await ledger.balance("casino-a", "p2", "EUR") == 0


async def test_late_original_from_another_player_is_refused_as_mismatch(
    ledger: Ledger,
) -> None:
    """A void left by one player's rollback is not filled by another player."""
    await funded(ledger)
    await ledger.open_account("casino-a", "p2", "EUR")
    await ledger.apply(PROVIDER, PROFILE, request(rollback("rb1", "b1")))
    other = player_ref("casino-a", "p2")

    outcome = await ledger.apply(
        PROVIDER, PROFILE, request(debit("b1", 100), player=other)
    )

    assert outcome.status is Status.TRANSACTION_MISMATCH


async def test_credit_past_the_largest_balance_is_refused(ledger: Ledger) -> None:
    """A credit that would take a balance past what is stored moves nothing."""
    await funded(ledger, MAX_MINOR - 10)

    outcome = await ledger.apply(PROVIDER, PROFILE, request(credit("w1", 11)))

    assert outcome.status is Status.LIMIT_REACHED
    assert await balance(ledger) == MAX_MINOR - 10


async def test_refused_operator_debit_for_a_new_player_writes_no_account(
    ledger: Ledger, db: Database
) -> None:
    """Taking money from a player the gateway never saw creates nobody."""
    outcome = await ledger.transfer(
        "casino-a",
        "nobody",
        operation=Operation.DEBIT,
        amount=100,
        currency="EUR",
        reference="w-1",
    )

    assert outcome.status is Status.UNKNOWN_PLAYER
    assert await db.one("SELECT count(*) FROM players") == (0,)


async def test_rollback_in_another_currency_than_its_debit_is_refused(
    ledger: Ledger,
) -> None:
    """A rollback returns the debit in the debit's currency or not at all."""
    await funded(ledger)
    await ledger.transfer(
        "casino-a",
        "player-1",
        operation=Operation.CREDIT,
        amount=1000,
        currency="USD",
        reference="funding-usd",
    )
    await ledger.apply(PROVIDER, PROFILE, request(debit("b1", 500)))

    crossed = await ledger.apply(
        PROVIDER, PROFILE, request(rollback("rb1", "b1"), currency="USD")
    )
    proper = await ledger.apply(PROVIDER, PROFILE, request(rollback("rb2", "b1")))

    assert crossed.status is Status.TRANSACTION_MISMATCH
    assert await ledger.balance("casino-a", "player-1", "USD") == 1000
    assert proper.status is Status.OK
    assert await balance(ledger) == 1000


async def test_credit_naming_a_debit_in_another_currency_is_refused(
    ledger: Ledger,
) -> None:
    """A win settles its bet in the bet's currency only."""
    await funded(ledger)
    await ledger.open_account("casino-a", "player-1", "USD")
    await ledger.apply(PROVIDER, PROFILE, request(debit("b1", 500)))

    outcome = await ledger.apply(
        PROVIDER, PROFILE, request(credit("w1", 900, ref="b1"), currency="USD")
    )

    assert outcome.status is Status.TRANSACTION_MISMATCH
    assert await ledger.balance("casino-a", "player-1", "USD") == 0


async def test_a_round_belongs_to_the_player_who_opened_it(ledger: Ledger) -> None:
    """Another player can neither close a player's round nor play in it."""
    await funded(ledger)
    await ledger.open_account("casino-a", "p2", "EUR")
    other = player_ref("casino-a", "p2")
    await ledger.apply(PROVIDER, PROFILE, request(debit("b1", 300), round_id="shared"))

    closed = await ledger.apply(
        PROVIDER, PROFILE, request(round_id="shared", round_closed=True, player=other)
    )
    paid = await ledger.apply(
        PROVIDER, PROFILE, request(credit("w9", 999), round_id="shared", player=other)
    )
    win = await ledger.apply(
        PROVIDER, PROFILE, request(credit("w1", 600), round_id="shared")
    )

    assert closed.status is paid.status is Status.TRANSACTION_MISMATCH
    assert win.status is Status.OK
    assert await balance(ledger) == 1300


@pytest.mark.parametrize(
    "field",
    ["transaction_id", "reference_transaction_id", "round_id", "game", "player"],
)
@pytest.mark.parametrize("bad", ["with\x00nul", "x" * 257])
async def test_ids_with_nul_or_past_256_characters_are_refused(
    ledger: Ledger, db: Database, field: str, bad: str
) -> None:
    """Ids the ledger cannot store faithfully everywhere are refused, not stored."""
    await funded(ledger)
    values = {"transaction_id": "b1", "reference_transaction_id": None}
    if field in values:
        values[field] = bad
    op = WalletOperation(operation=Operation.DEBIT, amount=100, **values)  # type: ignore[arg-type]
    fields = {field: bad} if field in ("round_id", "game", "player") else {}

    outcome = await ledger.apply(PROVIDER, PROFILE, request(op, **fields))

    assert outcome.status is Status.BAD_REQUEST
    assert await db.one(
        "SELECT count(*) FROM transactions WHERE provider = ?", PROVIDER
    ) == (0,)
