"""The conformance scenarios: the money rules every adapter must keep, end to end.

Each scenario drives the provider-side client of the adapter under test
against a real gateway and checks the money twice: through the gateway's own
balance API, and in the ledger's tables. The plugin collects the class below
into every test module that defines the `gamegate_adapter` fixture.

This module imports `gateway`: the kit runs where gamegate is installed. The
adapter under test still imports only `contracts`.
"""

from __future__ import annotations

from typing import Literal

import pytest

from contracts.testing.adapter import AdapterUnderTest
from contracts.testing.client import KitAnswer, ProviderClient
from contracts.testing.harness import KitGateway, KitPlayer, Seat
from contracts.wallet import Status
from gateway.ledger import APPLIED, ROLLED_BACK, VOID

FUNDS = 100_000
"""What the default test player holds when a scenario starts, in minor units."""

CURRENCY_PARAMETER = "kit_currency"
"""The parameter the plugin fills with each declared currency."""

Step = Literal["debit", "credit", "rollback"]
STEPS: tuple[Step, ...] = ("debit", "credit", "rollback")


@pytest.mark.asyncio
class Conformance:
    """The scenarios every adapter passes; each pins one money rule."""

    async def test_balance_is_the_wallet_balance(
        self, kit_gateway: KitGateway, kit_seat: Seat
    ) -> None:
        """A balance request answers the wallet balance exactly and writes nothing."""
        answer = await kit_seat.balance()

        _ok(answer)
        await _money_is(kit_gateway, kit_seat.player, FUNDS, answer)
        assert await kit_gateway.footprint() == (0, 0)

    async def test_bet_then_win_then_round_end(
        self,
        kit_gateway: KitGateway,
        kit_seat: Seat,
        gamegate_adapter: AdapterUnderTest,
    ) -> None:
        """A bet takes its amount, its win pays, and the ended round takes no bet."""
        declared = gamegate_adapter
        round_id, bet_id, win_id = _ids(kit_gateway, "round", "debit", "credit")

        bet = await kit_seat.debit(100, bet_id, round_id)
        _ok(bet)
        await _money_is(kit_gateway, kit_seat.player, FUNDS - 100, bet)

        closing = not declared.end_round_message
        win = await kit_seat.credit(250, win_id, round_id, bet_id, round_closed=closing)
        _ok(win)
        await _money_is(kit_gateway, kit_seat.player, FUNDS + 150, win)

        if declared.end_round_message:
            end = await kit_seat.end_round(round_id)
            _ok(end)
            await _money_is(kit_gateway, kit_seat.player, FUNDS + 150, end)
        assert await kit_gateway.round_closed(round_id) is True

        debit, credit = await kit_gateway.entry(bet_id), await kit_gateway.entry(win_id)
        assert debit is not None and debit.operation == "debit"
        assert debit.amount == 100 and debit.state == APPLIED
        assert credit is not None and credit.operation == "credit"
        assert credit.amount == 250 and credit.state == APPLIED
        named = bet_id if declared.credit_names_debit else None
        assert credit.reference_transaction_id == named

        late_id = kit_gateway.new_id("debit")
        late = await kit_seat.debit(10, late_id, round_id)
        assert declared.refused_as(late.status, Status.ROUND_CLOSED), _shown(late)
        await _money_is(kit_gateway, kit_seat.player, FUNDS + 150, late)
        assert await kit_gateway.entry(late_id) is None

    async def test_bet_then_rollback(
        self,
        kit_gateway: KitGateway,
        kit_seat: Seat,
        gamegate_adapter: AdapterUnderTest,
    ) -> None:
        """A rollback of a bet returns its amount once and marks the bet rolled back."""
        round_id, bet_id, rollback_id = _ids(kit_gateway, "round", "debit", "rb")

        bet = await kit_seat.debit(100, bet_id, round_id)
        _ok(bet)
        rollback = await kit_seat.rollback(rollback_id, bet_id, 100, round_id)
        _ok(rollback)

        await _money_is(kit_gateway, kit_seat.player, FUNDS, rollback)
        debit = await kit_gateway.entry(bet_id)
        assert debit is not None and debit.state == ROLLED_BACK
        if gamegate_adapter.rollback_has_own_id:
            undo = await kit_gateway.entry(rollback_id)
            assert undo is not None and undo.operation == "rollback"

    @pytest.mark.parametrize("step", STEPS)
    async def test_replay_moves_nothing(
        self,
        kit_gateway: KitGateway,
        kit_seat: Seat,
        kit_client: ProviderClient,
        gamegate_adapter: AdapterUnderTest,
        step: Step,
    ) -> None:
        """A transaction sent again moves nothing and is answered as the original."""
        original, expected = await _played(kit_gateway, kit_seat, step)
        before = await kit_gateway.footprint()

        again = await kit_client.resend(original)

        _ok(again)
        if gamegate_adapter.replay_answer == "duplicate":
            assert again.replay, f"the replay is not read as one: {_shown(again)}"
        else:
            assert again.balance == original.balance
            assert again.transaction_ref == original.transaction_ref
        if original.transaction_ref and again.transaction_ref:
            assert again.transaction_ref == original.transaction_ref
        await _money_is(kit_gateway, kit_seat.player, expected, again)
        assert await kit_gateway.footprint() == before

    @pytest.mark.parametrize("step", STEPS)
    async def test_replay_with_other_content_is_refused(
        self,
        kit_gateway: KitGateway,
        kit_seat: Seat,
        gamegate_adapter: AdapterUnderTest,
        step: Step,
    ) -> None:
        """A transaction id sent again with other content is refused, moving nothing."""
        if step == "rollback" and not gamegate_adapter.rollback_has_own_id:
            pytest.skip("the protocol derives a rollback's id from the bet it undoes")
        round_id, bet_id, second_id = _ids(kit_gateway, "round", "debit", "second")
        _ok(await kit_seat.debit(100, bet_id, round_id))
        expected = FUNDS - 100

        if step == "debit":
            before = await kit_gateway.footprint()
            refused = await kit_seat.debit(200, bet_id, round_id)
        elif step == "credit":
            _ok(
                await kit_seat.credit(
                    250, second_id, round_id, bet_id, round_closed=False
                )
            )
            expected += 250
            before = await kit_gateway.footprint()
            refused = await kit_seat.credit(
                300, second_id, round_id, bet_id, round_closed=False
            )
        else:
            other_id = kit_gateway.new_id("debit")
            _ok(await kit_seat.debit(50, other_id, round_id))
            _ok(await kit_seat.rollback(second_id, bet_id, 100, round_id))
            expected += 100 - 50
            before = await kit_gateway.footprint()
            refused = await kit_seat.rollback(second_id, other_id, 50, round_id)

        status = refused.status
        assert gamegate_adapter.refused_as(status, Status.TRANSACTION_MISMATCH), _shown(
            refused
        )
        await _money_is(kit_gateway, kit_seat.player, expected, refused)
        assert await kit_gateway.footprint() == before
        if step == "rollback":
            other = await kit_gateway.entry(other_id)
            assert other is not None and other.state == APPLIED

    async def test_rollback_before_its_bet_is_remembered(
        self,
        kit_gateway: KitGateway,
        kit_seat: Seat,
        gamegate_adapter: AdapterUnderTest,
    ) -> None:
        """A rollback of an unseen bet is remembered, so the late bet moves nothing."""
        round_id, bet_id, rollback_id = _ids(kit_gateway, "round", "debit", "rb")

        rollback = await kit_seat.rollback(rollback_id, bet_id, 100, round_id)
        wanted = kit_gateway.profile.unknown_rollback
        if wanted is Status.OK:
            _ok(rollback)
        else:
            assert gamegate_adapter.refused_as(rollback.status, wanted), _shown(
                rollback
            )
        await _money_is(kit_gateway, kit_seat.player, FUNDS, rollback)

        late = await kit_seat.debit(100, bet_id, round_id)

        _ok(late)
        await _money_is(kit_gateway, kit_seat.player, FUNDS, late)
        debit = await kit_gateway.entry(bet_id)
        assert debit is not None and debit.state == VOID

    async def test_win_after_rollback_is_refused(
        self,
        kit_gateway: KitGateway,
        kit_seat: Seat,
        gamegate_adapter: AdapterUnderTest,
    ) -> None:
        """A win on a rolled-back bet is refused and pays nothing."""
        round_id, bet_id, rollback_id, win_id = _ids(
            kit_gateway, "round", "debit", "rb", "credit"
        )
        _ok(await kit_seat.debit(100, bet_id, round_id))
        _ok(await kit_seat.rollback(rollback_id, bet_id, 100, round_id))
        before = await kit_gateway.footprint()

        win = await kit_seat.credit(250, win_id, round_id, bet_id)

        assert gamegate_adapter.refused_as(win.status, Status.ALREADY_ROLLED_BACK), (
            _shown(win)
        )
        await _money_is(kit_gateway, kit_seat.player, FUNDS, win)
        assert await kit_gateway.footprint() == before

    async def test_credit_on_expired_session_is_paid(
        self, kit_gateway: KitGateway, kit_seat: Seat
    ) -> None:
        """A win whose session expired after its bet is still paid."""
        round_id, bet_id, win_id = _ids(kit_gateway, "round", "debit", "credit")
        _ok(await kit_seat.debit(100, bet_id, round_id))
        await kit_gateway.expire_session(kit_seat.player)

        win = await kit_seat.credit(250, win_id, round_id, bet_id)

        _ok(win)
        await _money_is(kit_gateway, kit_seat.player, FUNDS + 150, win)
        credit = await kit_gateway.entry(win_id)
        assert credit is not None and credit.amount == 250

    async def test_insufficient_funds_writes_nothing(
        self, kit_gateway: KitGateway, kit_seat: Seat
    ) -> None:
        """A bet larger than the balance is refused as such and writes nothing."""
        round_id, bet_id = _ids(kit_gateway, "round", "debit")

        bet = await kit_seat.debit(FUNDS + 1, bet_id, round_id)

        assert bet.status is Status.INSUFFICIENT_FUNDS, _shown(bet)
        await _money_is(kit_gateway, kit_seat.player, FUNDS, bet)
        assert await kit_gateway.footprint() == (0, 0)

    async def test_zero_free_round_bet_is_recorded(
        self, kit_gateway: KitGateway, kit_seat: Seat
    ) -> None:
        """A free-round bet of zero is accepted and recorded without moving money."""
        round_id, bet_id = _ids(kit_gateway, "round", "debit")

        bet = await kit_seat.debit(0, bet_id, round_id, free_round=True)

        _ok(bet)
        await _money_is(kit_gateway, kit_seat.player, FUNDS, bet)
        debit = await kit_gateway.entry(bet_id)
        assert debit is not None and debit.operation == "debit"
        assert debit.amount == 0 and debit.state == APPLIED

    async def test_bad_signature_writes_nothing(
        self, kit_gateway: KitGateway, kit_seat: Seat, kit_client: ProviderClient
    ) -> None:
        """A callback whose signature fails is refused as such and writes nothing."""
        signed = await _affordable_later(kit_gateway, kit_seat)
        before = await kit_gateway.footprint()

        forged = await kit_client.send_unsigned(signed)

        assert forged.status is Status.INVALID_SIGNATURE, _shown(forged)
        await _money_is(kit_gateway, kit_seat.player, FUNDS + 1_000, forged)
        assert await kit_gateway.footprint() == before

        # The same request, correctly signed, was worth refusing: it moves money.
        _ok(await kit_client.resend(signed))
        await _money_is(kit_gateway, kit_seat.player, 500)

    async def test_malformed_body_writes_nothing(
        self, kit_gateway: KitGateway, kit_seat: Seat, kit_client: ProviderClient
    ) -> None:
        """A correctly signed but malformed callback is refused and writes nothing."""
        signed = await _affordable_later(kit_gateway, kit_seat)
        before = await kit_gateway.footprint()

        malformed = await kit_client.send_malformed(signed)

        assert malformed.status is Status.BAD_REQUEST, _shown(malformed)
        await _money_is(kit_gateway, kit_seat.player, FUNDS + 1_000, malformed)
        assert await kit_gateway.footprint() == before

    async def test_currency_round_trips_exactly(
        self,
        kit_gateway: KitGateway,
        kit_client: ProviderClient,
        gamegate_adapter: AdapterUnderTest,
        kit_currency: str,
    ) -> None:
        """One minor unit and a large amount move exactly in every declared currency."""
        large = gamegate_adapter.large_amount
        player = await kit_gateway.open_player(kit_currency, large)
        seat = Seat(kit_client, player)
        round_id, bet_id, win_id = _ids(kit_gateway, "round", "debit", "credit")

        balance = await seat.balance()
        _ok(balance)
        await _money_is(kit_gateway, player, large, balance)

        bet = await seat.debit(1, bet_id, round_id)
        _ok(bet)
        await _money_is(kit_gateway, player, large - 1, bet)

        win = await seat.credit(large, win_id, round_id, bet_id)
        _ok(win)
        await _money_is(kit_gateway, player, 2 * large - 1, win)

        debit, credit = await kit_gateway.entry(bet_id), await kit_gateway.entry(win_id)
        assert debit is not None and (debit.amount, debit.currency) == (1, kit_currency)
        assert credit is not None
        assert (credit.amount, credit.currency) == (large, kit_currency)


async def _played(gateway: KitGateway, seat: Seat, step: Step) -> tuple[KitAnswer, int]:
    # Plays a round up to `step` and returns that step's answer and the
    # balance it leaves.
    round_id, bet_id, step_id = _ids(gateway, "round", "debit", step)
    bet = await seat.debit(100, bet_id, round_id)
    _ok(bet)
    if step == "debit":
        return bet, FUNDS - 100

    if step == "credit":
        win = await seat.credit(250, step_id, round_id, bet_id, round_closed=False)
        _ok(win)
        return win, FUNDS + 150

    rollback = await seat.rollback(step_id, bet_id, 100, round_id)
    _ok(rollback)

    return rollback, FUNDS


async def _affordable_later(gateway: KitGateway, seat: Seat) -> KitAnswer:
    # A valid, signed bet refused only for lack of funds, which then arrive:
    # the request would now move money if the gateway took it.
    round_id, bet_id = _ids(gateway, "round", "debit")
    refused = await seat.debit(FUNDS + 500, bet_id, round_id)
    assert refused.status is Status.INSUFFICIENT_FUNDS, _shown(refused)
    await gateway.fund(seat.player, 1_000)

    return refused


async def _money_is(
    gateway: KitGateway, player: KitPlayer, expected: int, *answers: KitAnswer
) -> None:
    for answer in answers:
        if answer.balance is not None:
            assert answer.balance == expected, f"answered balance: {_shown(answer)}"
    shown = gateway.format(expected, player.currency)
    assert await gateway.balance(player) == expected, f"wallet should hold {shown}"


def _ids(gateway: KitGateway, *kinds: str) -> tuple[str, ...]:
    return tuple(gateway.new_id(kind) for kind in kinds)


def _ok(answer: KitAnswer) -> None:
    assert answer.status is Status.OK, _shown(answer)


def _shown(answer: KitAnswer) -> str:
    body = answer.body[:300].decode(errors="replace")
    return f"/{answer.path}: HTTP {answer.http_status}, read {answer.status}, {body}"
