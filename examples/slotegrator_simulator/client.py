"""The aggregator's side of the wallet protocol: signed, form-encoded callbacks.

`SlotegratorClient` sends the callbacks the aggregator sends to a merchant
(here, to a gamegate provider instance) over real HTTP, each signed with
`X-Sign`, and reads each answer back into the conformance kit's normalized
terms. It implements `contracts.testing.client.ProviderClient`.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from types import TracebackType
from typing import Any

import httpx

from adapters.slotegrator.adapter import ERROR_CODES
from contracts import AmountError, CurrencyTable, Money, Status, UnknownCurrency
from contracts.testing.client import KitAnswer
from examples.slotegrator_simulator.signing import (
    MERCHANT_HEADER,
    NONCE_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    http_build_query,
    parse_str,
    signature,
)

DEFAULT_GAME = "8c6a0f6b1e2d4c5a9b7e3f1d2c4b6a8e9f0a1b2c"
FORM = "application/x-www-form-urlencoded"
MALFORMED_AMOUNT = "1,50"

# The merchant's error descriptions, read back into statuses. The protocol
# itself has only two codes, so the description is what tells them apart.
_STATUS_BY_ANSWER: Mapping[tuple[str, str], Status] = {
    answer: status for status, answer in ERROR_CODES.items()
}


@dataclass(frozen=True, slots=True)
class RolledBack:
    """One transaction a `rollback` callback lists, amount in minor units."""

    action: str
    transaction_id: str
    amount: int
    type: str | None = None


class SlotegratorClient:
    """Sends the aggregator's callbacks to a merchant's callback URL.

    `callback_url` is the full URL the merchant gave the aggregator, for
    example `http://127.0.0.1:8080/providers/slotegrator-direct/callback`.
    `clock` gives `X-Timestamp` (Unix seconds); tests move it to send stale
    requests.
    """

    def __init__(
        self,
        callback_url: str,
        merchant_id: str,
        merchant_key: str,
        *,
        currencies: CurrencyTable | None = None,
        game: str = DEFAULT_GAME,
        timeout: float = 5.0,
        http: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.callback_url = callback_url
        self.merchant_id = merchant_id
        self.game = game
        self.currencies = currencies or CurrencyTable()
        self.clock = clock
        self._key = merchant_key
        self._http = http or httpx.AsyncClient(timeout=timeout)
        self._owns_http = http is None

    async def __aenter__(self) -> SlotegratorClient:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client if this client created it."""
        if self._owns_http:
            await self._http.aclose()

    async def balance(
        self, *, player: str, currency: str, session_token: str
    ) -> KitAnswer:
        """Ask for the player's balance."""
        return await self.send(
            {
                "action": "balance",
                "player_id": player,
                "currency": currency,
                "session_id": session_token,
                "game_uuid": self.game,
            }
        )

    async def debit(
        self,
        *,
        player: str,
        currency: str,
        amount: int,
        transaction_id: str,
        round_id: str,
        session_token: str,
        free_round: bool = False,
    ) -> KitAnswer:
        """Place a bet; a free-round bet is of type `freespin` with its campaign id."""
        params = self._money_call("bet", player, currency, amount, session_token)
        params.update(transaction_id=transaction_id, round_id=round_id)
        params["type"] = "freespin" if free_round else "bet"
        if free_round:
            params["freespin_id"] = f"fs-{round_id}"

        return await self.send(params)

    async def credit(
        self,
        *,
        player: str,
        currency: str,
        amount: int,
        transaction_id: str,
        round_id: str,
        session_token: str,
        debit_transaction_id: str | None,
        round_closed: bool = True,
    ) -> KitAnswer:
        """Pay a win; the protocol's win names its round, not its bet."""
        params = self._money_call("win", player, currency, amount, session_token)
        params.update(transaction_id=transaction_id, round_id=round_id, type="win")
        params["finished"] = "1" if round_closed else "0"

        return await self.send(params)

    async def rollback(
        self,
        *,
        player: str,
        currency: str,
        transaction_id: str,
        debit_transaction_id: str,
        amount: int,
        round_id: str,
        session_token: str,
    ) -> KitAnswer:
        """Refund a bet (`action=refund`), which the merchant may not have seen."""
        params = self._money_call("refund", player, currency, amount, session_token)
        params.update(
            transaction_id=transaction_id,
            bet_transaction_id=debit_transaction_id,
            round_id=round_id,
        )

        return await self.send(params)

    async def rollback_round(
        self,
        *,
        player: str,
        currency: str,
        transaction_id: str,
        transactions: Sequence[RolledBack],
        round_id: str,
        session_token: str,
    ) -> KitAnswer:
        """Roll back a round's bets and wins in one `action=rollback` callback."""
        listed = [
            {
                "action": rolled.action,
                "amount": self._decimal(rolled.amount, currency),
                "transaction_id": rolled.transaction_id,
                "type": rolled.type or rolled.action,
            }
            for rolled in transactions
        ]

        return await self.send(
            {
                "action": "rollback",
                "player_id": player,
                "currency": currency,
                "game_uuid": self.game,
                "session_id": session_token,
                "transaction_id": transaction_id,
                "round_id": round_id,
                "rollback_transactions": listed,
            }
        )

    async def end_round(
        self, *, player: str, currency: str, round_id: str, session_token: str
    ) -> KitAnswer:
        """Close a round as the aggregator does: a finished win of zero."""
        return await self.credit(
            player=player,
            currency=currency,
            amount=0,
            transaction_id=f"end-{round_id}",
            round_id=round_id,
            session_token=session_token,
            debit_transaction_id=None,
            round_closed=True,
        )

    async def resend(self, answer: KitAnswer) -> KitAnswer:
        """Send exactly the same body and headers once more."""
        return await self._post(answer.path, answer.request, answer.headers)

    async def send_unsigned(self, answer: KitAnswer) -> KitAnswer:
        """Send the same request with a wrong `X-Sign`."""
        headers = {**answer.headers, SIGNATURE_HEADER: "0" * 40}

        return await self._post(answer.path, answer.request, headers)

    async def send_malformed(self, answer: KitAnswer) -> KitAnswer:
        """Send the same request, freshly signed, with an amount like `1,50`.

        A request without an amount gets a lower-case currency instead, which
        the protocol forbids as well.
        """
        params = parse_str(answer.request.decode("ascii"))
        listed = params.get("rollback_transactions")
        if "amount" in params:
            params["amount"] = MALFORMED_AMOUNT
        elif isinstance(listed, dict) and listed:
            next(iter(listed.values()))["amount"] = MALFORMED_AMOUNT
        else:
            params["currency"] = str(params.get("currency", "")).lower()

        return await self.send(params)

    async def send(self, params: Mapping[str, Any]) -> KitAnswer:
        """Encode parameters as a form, sign them with fresh headers and send them."""
        headers = self.signed_headers(params)

        return await self._post(self.callback_url, _body(params), headers)

    def signed_headers(self, params: Mapping[str, Any]) -> dict[str, str]:
        """Return fresh `X-*` headers with the `X-Sign` of the parameters."""
        headers = {
            MERCHANT_HEADER: self.merchant_id,
            TIMESTAMP_HEADER: str(int(self.clock())),
            NONCE_HEADER: secrets.token_hex(8),
        }
        headers[SIGNATURE_HEADER] = signature(self._key, params, headers)

        return headers

    async def _post(
        self, url: str, body: bytes, headers: Mapping[str, str]
    ) -> KitAnswer:
        sent = {**headers, "Content-Type": FORM}
        response = await self._http.post(url, content=body, headers=sent)
        document = _document(response.content)
        currency = parse_str(body.decode("ascii")).get("currency")

        return KitAnswer(
            http_status=response.status_code,
            status=read_status(document),
            balance=self._minor_units(document.get("balance"), currency),
            path=url,
            request=body,
            headers=dict(headers),
            transaction_ref=_text_or_none(document.get("transaction_id")),
            body=response.content,
        )

    def _money_call(
        self, action: str, player: str, currency: str, amount: int, session: str
    ) -> dict[str, Any]:
        return {
            "action": action,
            "player_id": player,
            "currency": currency,
            "amount": self._decimal(amount, currency),
            "game_uuid": self.game,
            "session_id": session,
        }

    def _decimal(self, amount: int, currency: str) -> str:
        return self.currencies.format(Money(amount, currency))

    def _minor_units(self, value: object, currency: object) -> int | None:
        if not isinstance(value, int | Decimal) or isinstance(value, bool):
            return None
        if not isinstance(currency, str):
            return None
        try:
            return self.currencies.parse(value, currency).minor
        except (AmountError, UnknownCurrency):
            return None


def read_status(document: Mapping[str, Any]) -> Status:
    """Read a merchant answer into the closed set of statuses."""
    code = document.get("error_code")
    if code is None:
        return Status.OK if "balance" in document else Status.FINAL_ERROR
    description = str(document.get("error_description", "")).split(":", 1)[0]

    return _STATUS_BY_ANSWER.get((str(code), description), Status.FINAL_ERROR)


def _body(params: Mapping[str, Any]) -> bytes:
    return http_build_query(params).encode("ascii")


def _document(body: bytes) -> Mapping[str, Any]:
    try:
        document = json.loads(body, parse_float=Decimal)
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}


def _text_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None
