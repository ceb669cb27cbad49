"""Reading Pragmatic Play's callback forms into normalized wallet requests.

The hash has been verified when these functions run; they check fields and
types only. Every refusal is a `BadRequest` subclass, so the adapter renders
it as error 7, "bad parameters" (or 4 for a token that names no session).
Parameters the adapter does not use are ignored, as Pragmatic adds new ones.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from adapters.pragmatic.identity import read_token, read_user_id, session_of
from contracts import (
    AmountError,
    BadRequest,
    CreditKind,
    CurrencyTable,
    Operation,
    UnknownOperation,
    WalletOperation,
    WalletRequest,
)

MAX_ID = 128
MAX_TIMESTAMP_DIGITS = 20
PROMO_SUFFIX = ":promo"
REFUND_PREFIX = "refund:"


@dataclass(frozen=True, slots=True)
class Form:
    """A verified callback's parameters, with the readers every method shares."""

    params: Mapping[str, str]
    currencies: CurrencyTable
    raw: bytes

    def text(self, field: str, limit: int = MAX_ID * 4) -> str:
        """Return a required, non-empty parameter."""
        value = self.params.get(field)
        if not value:
            raise BadRequest(f"{field} is required", field=field)
        if len(value) > limit:
            raise BadRequest(f"{field} is longer than {limit}", field=field)

        return value

    def optional(self, field: str, limit: int = MAX_ID * 4) -> str | None:
        """Return a parameter, or None when it is missing or empty."""
        if not self.params.get(field):
            return None

        return self.text(field, limit)

    def identifier(self, field: str) -> str:
        """Return a required id: a reference, a round, a bonus code."""
        return self.text(field, MAX_ID)

    def account(self) -> tuple[str, str]:
        """Return the (player, currency) the `userId` names, currency checked."""
        player, currency = read_user_id(self.text("userId"))
        self.currencies.exponent(currency)

        return player, currency

    def amount(self, field: str, currency: str) -> int:
        """Return a required amount in minor units, exactly or not at all."""
        value = self.params.get(field)
        if value is None:
            raise AmountError(f"{field} is required", field=field)

        return self.currencies.parse(value, currency).minor

    def optional_amount(self, field: str, currency: str) -> int | None:
        """Return an amount when present, refusing a malformed one all the same."""
        if field not in self.params:
            return None

        return self.amount(field, currency)

    def session(self) -> str | None:
        """Return the gateway session token the `token` parameter names, if any."""
        token = self.optional("token")

        return session_of(token) if token else None

    def references(self, **fields: str) -> dict[str, str]:
        """Return the named parameters that are present, under the gateway's keys."""
        found = {key: self.optional(field, MAX_ID) for key, field in fields.items()}

        return {key: value for key, value in found.items() if value is not None}


Reader = Callable[[Form], WalletRequest]


def method_of(path: str) -> str:
    """Return the method a callback path names: `bet.html` and `bet` are `bet`."""
    name = path.strip("/").removesuffix(".html")
    if name not in READERS:
        raise UnknownOperation(f"no method {name[:40]!r}", path=path)

    return name


def read_request(
    method: str,
    pairs: list[tuple[str, str]],
    raw: bytes,
    currencies: CurrencyTable,
    provider_id: str,
) -> WalletRequest:
    """Read one verified callback form into the wallet request it asks for."""
    params = dict(pairs)
    if len(params) != len(pairs):
        raise BadRequest("a parameter is repeated")
    given = params.get("providerId", "")
    if given.casefold() != provider_id.casefold():
        raise BadRequest("providerId is not this instance's", field="providerId")
    timestamp = params.get("timestamp")
    if timestamp is not None and not _digits(timestamp):
        raise BadRequest("timestamp must be Unix milliseconds", field="timestamp")

    return READERS[method](Form(params, currencies, raw))


def _authenticate(form: Form) -> WalletRequest:
    session, player, currency = read_token(form.text("token"))
    form.currencies.exponent(currency)

    return WalletRequest(
        player=player,
        currency=currency,
        session_token=session,
        game=form.optional("gameId", MAX_ID),
        raw=form.raw,
    )


def _balance(form: Form) -> WalletRequest:
    player, currency = form.account()

    return WalletRequest(
        player=player, currency=currency, session_token=form.session(), raw=form.raw
    )


def _bet(form: Form) -> WalletRequest:
    player, currency = form.account()
    bet = WalletOperation(
        operation=Operation.DEBIT,
        transaction_id=form.identifier("reference"),
        amount=form.amount("amount", currency),
        references=form.references(bonus_code="bonusCode"),
    )

    return _in_round(form, player, currency, (bet,))


def _result(form: Form) -> WalletRequest:
    player, currency = form.account()
    reference = form.identifier("reference")
    win = WalletOperation(
        operation=Operation.CREDIT,
        transaction_id=reference,
        amount=form.amount("amount", currency),
        credit_kind=CreditKind.WIN,
        references=form.references(bonus_code="bonusCode"),
    )

    # A promotion won during the round ("rain" cash) rides on the result and
    # must reach the balance too; it is its own credit, kind promo.
    promo = form.optional_amount("promoWinAmount", currency)
    if not promo:
        return _in_round(form, player, currency, (win,))
    prize = WalletOperation(
        operation=Operation.CREDIT,
        transaction_id=form.optional("promoWinReference", MAX_ID)
        or reference + PROMO_SUFFIX,
        amount=promo,
        credit_kind=CreditKind.PROMO,
        references=form.references(
            campaign="promoCampaignID", campaign_type="promoCampaignType"
        ),
    )

    return _in_round(form, player, currency, (win, prize))


def _bonus_win(form: Form) -> WalletRequest:
    player, currency = form.account()
    bonus = WalletOperation(
        operation=Operation.CREDIT,
        transaction_id=form.identifier("reference"),
        amount=form.amount("amount", currency),
        credit_kind=CreditKind.BONUS,
        references={
            "bonus_code": form.identifier("bonusCode"),
            **form.references(round="roundId"),
        },
    )

    game = form.optional("gameId", MAX_ID)

    return _outside_round(form, player, currency, bonus, game)


def _jackpot_win(form: Form) -> WalletRequest:
    player, currency = form.account()
    jackpot = WalletOperation(
        operation=Operation.CREDIT,
        transaction_id=form.identifier("reference"),
        amount=form.amount("amount", currency),
        credit_kind=CreditKind.JACKPOT,
        references={
            "jackpot_id": form.identifier("jackpotId"),
            "round": form.identifier("roundId"),
        },
    )

    return _outside_round(form, player, currency, jackpot, form.identifier("gameId"))


def _promo_win(form: Form) -> WalletRequest:
    player, currency = form.account()
    if form.text("currency", 16) != currency:
        raise BadRequest("currency is not the userId's", field="currency")
    promo = WalletOperation(
        operation=Operation.CREDIT,
        transaction_id=form.identifier("reference"),
        amount=form.amount("amount", currency),
        credit_kind=CreditKind.PROMO,
        references={
            "campaign": form.identifier("campaignId"),
            "campaign_type": form.identifier("campaignType"),
            **form.references(round="roundId"),
        },
    )

    game = form.optional("gameId", MAX_ID)

    return _outside_round(form, player, currency, promo, game)


def _refund(form: Form) -> WalletRequest:
    player, currency = form.account()
    reference = form.identifier("reference")
    form.optional_amount("amount", currency)

    # Pragmatic names the bet being refunded and gives the refund no id of its
    # own; the refund's id is derived, so a resent refund is a replay.
    refund = WalletOperation(
        operation=Operation.ROLLBACK,
        transaction_id=REFUND_PREFIX + reference,
        reference_transaction_id=reference,
        references=form.references(bonus_code="bonusCode"),
    )

    return WalletRequest(
        player=player,
        currency=currency,
        operations=(refund,),
        session_token=form.session(),
        game=form.optional("gameId", MAX_ID),
        round_id=form.optional("roundId", MAX_ID),
        raw=form.raw,
    )


def _adjustment(form: Form) -> WalletRequest:
    player, currency = form.account()
    value = form.text("amount", 64)
    form.optional_amount("validBetAmount", currency)
    references = {"round": form.identifier("roundId")}

    # The one signed amount in the protocol: a negative adjustment takes money
    # and reaches the ledger as a debit of the magnitude, never as a negative.
    if value.startswith("-"):
        magnitude = form.currencies.parse(value[1:], currency).minor
        operation = Operation.DEBIT if magnitude else Operation.CREDIT
    else:
        magnitude = form.currencies.parse(value, currency).minor
        operation = Operation.CREDIT
    adjustment = WalletOperation(
        operation=operation,
        transaction_id=form.identifier("reference"),
        amount=magnitude,
        credit_kind=CreditKind.ADJUSTMENT if operation is Operation.CREDIT else None,
        references=references,
    )

    # Adjustments arrive offline, after the round and the session are over:
    # neither is named, so the ledger checks neither.
    return WalletRequest(
        player=player,
        currency=currency,
        operations=(adjustment,),
        game=form.identifier("gameId"),
        raw=form.raw,
    )


def _end_round(form: Form) -> WalletRequest:
    player, currency = form.account()

    return WalletRequest(
        player=player,
        currency=currency,
        session_token=form.session(),
        game=form.identifier("gameId"),
        round_id=form.identifier("roundId"),
        round_closed=True,
        raw=form.raw,
    )


def _in_round(
    form: Form,
    player: str,
    currency: str,
    operations: tuple[WalletOperation, ...],
) -> WalletRequest:
    return WalletRequest(
        player=player,
        currency=currency,
        operations=operations,
        session_token=form.session(),
        game=form.identifier("gameId"),
        round_id=form.identifier("roundId"),
        raw=form.raw,
    )


def _outside_round(
    form: Form, player: str, currency: str, credit: WalletOperation, game: str | None
) -> WalletRequest:
    # Bonus, jackpot and promo wins come on Pragmatic's own schedule, often
    # after the round they name has ended; bound to it, the ledger would refuse
    # them as late and strand the player's money in reconciliation. The round
    # stays in the references.
    return WalletRequest(
        player=player,
        currency=currency,
        operations=(credit,),
        session_token=form.session(),
        game=game,
        raw=form.raw,
    )


def _digits(value: str) -> bool:
    return value.isascii() and value.isdigit() and len(value) <= MAX_TIMESTAMP_DIGITS


READERS: Mapping[str, Reader] = {
    "authenticate": _authenticate,
    "balance": _balance,
    "bet": _bet,
    "result": _result,
    "bonusWin": _bonus_win,
    "jackpotWin": _jackpot_win,
    "promoWin": _promo_win,
    "refund": _refund,
    "adjustment": _adjustment,
    "endRound": _end_round,
}
