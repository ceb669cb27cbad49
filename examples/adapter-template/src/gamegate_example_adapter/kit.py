"""The provider's side of the Example protocol, as the conformance kit drives it.

`ExampleKitClient` sends the `/wallet` callbacks an Example provider sends to
a casino, each body signed with `X-Example-Signature`; it checks the
signature of every answer and reads it into the kit's normalized terms. It
implements `contracts.testing.ProviderClient` and is written from the
protocol's description, not from the adapter's code, so the two check each
other.

How the protocol differs, for the kit's `AdapterUnderTest`
- every callback carries the session token given at launch.
- a win names the bet it pays.
- there is no end-of-round message: the last win closes the round with
  `round_over: true`, so `end_round` sends a win of zero that does.
- a replay is answered as the original, with the original `transaction`.
- free rounds are bets of zero; the protocol has no field of its own for them.
- every refusal has its own code.

It imports `contracts` only, like the adapter.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

from contracts.money import CurrencyTable, Money
from contracts.signing import hmac_sha256_hex, same_signature
from contracts.testing import KitAnswer
from contracts.wallet import Status

SIGNATURE_HEADER = "X-Example-Signature"
PATH = "wallet"

# The protocol's codes, as a provider reads them.
STATUSES: Mapping[str, Status] = {
    "OK": Status.OK,
    "NO_FUNDS": Status.INSUFFICIENT_FUNDS,
    "UNKNOWN_PLAYER": Status.UNKNOWN_PLAYER,
    "BAD_SESSION": Status.INVALID_SESSION,
    "SESSION_EXPIRED": Status.SESSION_EXPIRED,
    "PLAYER_BLOCKED": Status.PLAYER_BLOCKED,
    "LIMIT_REACHED": Status.LIMIT_REACHED,
    "GAME_NOT_ALLOWED": Status.GAME_NOT_ALLOWED,
    "WRONG_CURRENCY": Status.WRONG_CURRENCY,
    "UNKNOWN_TRANSACTION": Status.TRANSACTION_NOT_FOUND,
    "TRANSACTION_CONFLICT": Status.TRANSACTION_MISMATCH,
    "ROUND_SETTLED": Status.ALREADY_SETTLED,
    "ALREADY_REFUNDED": Status.ALREADY_ROLLED_BACK,
    "ROUND_CLOSED": Status.ROUND_CLOSED,
    "BAD_REQUEST": Status.BAD_REQUEST,
    "BAD_SIGNATURE": Status.INVALID_SIGNATURE,
    "ERROR": Status.FINAL_ERROR,
    "TRY_AGAIN": Status.RETRYABLE_ERROR,
}


class ExampleKitClient:
    """Sends signed Example callbacks to a gateway instance and reads the answers.

    `callback_url` is the instance's callback base, for example
    `http://127.0.0.1:8080/providers/under-test/`. `currencies` converts the
    kit's minor units to the protocol's decimal strings and back; it must
    know every currency the kit plays in.
    """

    def __init__(
        self,
        callback_url: str,
        secret: str,
        *,
        currencies: CurrencyTable | None = None,
        game: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.url = callback_url.rstrip("/") + "/" + PATH
        self.currencies = currencies or CurrencyTable()
        self.game = game
        self._key = secret.encode()
        self._http = httpx.AsyncClient(timeout=timeout)

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._http.aclose()

    async def balance(
        self, *, player: str, currency: str, session_token: str
    ) -> KitAnswer:
        """Ask for the player's balance."""
        return await self._send(
            self._envelope("balance", player, currency, session_token)
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
        """Place a bet; a free-round bet is a bet of its amount, usually zero."""
        document = self._envelope("bet", player, currency, session_token)
        document.update(
            round=round_id,
            transaction=transaction_id,
            amount=self._decimal(amount, currency),
        )

        return await self._send(document)

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
        """Pay a win, naming its bet, and close the round when `round_closed`."""
        document = self._envelope("win", player, currency, session_token)
        document.update(
            round=round_id,
            transaction=transaction_id,
            amount=self._decimal(amount, currency),
            round_over=round_closed,
        )
        if debit_transaction_id is not None:
            document["bet"] = debit_transaction_id

        return await self._send(document)

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
        """Refund a bet; the protocol carries no amount, the bet's own is returned."""
        document = self._envelope("refund", player, currency, session_token)
        document.update(
            round=round_id, transaction=transaction_id, refund_of=debit_transaction_id
        )

        return await self._send(document)

    async def end_round(
        self, *, player: str, currency: str, round_id: str, session_token: str
    ) -> KitAnswer:
        """Close a round as the protocol does: with a win of zero."""
        return await self.credit(
            player=player,
            currency=currency,
            amount=0,
            transaction_id=f"{round_id}:end",
            round_id=round_id,
            session_token=session_token,
            debit_transaction_id=None,
        )

    async def resend(self, answer: KitAnswer) -> KitAnswer:
        """Send exactly the same bytes and headers once more."""
        return await self._post(answer.request, answer.headers)

    async def send_unsigned(self, answer: KitAnswer) -> KitAnswer:
        """Send the same bytes signed with another key."""
        forged = hmac_sha256_hex(self._key + b"-not-the-key", answer.request)

        return await self._post(answer.request, _headers(forged))

    async def send_malformed(self, answer: KitAnswer) -> KitAnswer:
        """Send the same callback, signed, with its amount as a JSON number.

        A callback without an amount gets a number for its player instead.
        """
        document = json.loads(answer.request)
        if "amount" in document:
            document["amount"] = float(document["amount"])
        else:
            document["player"] = 1
        body = _dumps(document)

        return await self._post(body, _headers(self._sign(body)))

    def _envelope(
        self, op: str, player: str, currency: str, session_token: str
    ) -> dict[str, Any]:
        document: dict[str, Any] = {
            "op": op,
            "player": player,
            "session": session_token,
            "currency": currency,
        }
        if self.game is not None:
            document["game"] = self.game

        return document

    async def _send(self, document: Mapping[str, Any]) -> KitAnswer:
        body = _dumps(document)

        return await self._post(body, _headers(self._sign(body)))

    async def _post(self, body: bytes, headers: Mapping[str, str]) -> KitAnswer:
        response = await self._http.post(self.url, content=body, headers=dict(headers))
        signature = response.headers.get(SIGNATURE_HEADER)
        if not same_signature(self._sign(response.content), signature):
            raise AssertionError(
                f"the answer (HTTP {response.status_code}) is not signed with"
                f" {SIGNATURE_HEADER}: {response.content[:200]!r}"
            )

        return self._read(body, headers, response)

    def _read(
        self, body: bytes, headers: Mapping[str, str], response: httpx.Response
    ) -> KitAnswer:
        try:
            answer = json.loads(response.content)
        except ValueError as error:
            raise AssertionError("the answer is not JSON") from error
        if not isinstance(answer, dict):
            raise AssertionError("the answer is not a JSON object")

        transaction = answer.get("transaction")

        return KitAnswer(
            http_status=response.status_code,
            status=_status(answer.get("status")),
            balance=self._minor(answer),
            path=PATH,
            request=body,
            headers=dict(headers),
            transaction_ref=transaction if isinstance(transaction, str) else None,
            body=response.content,
        )

    def _minor(self, answer: Mapping[str, Any]) -> int | None:
        balance, currency = answer.get("balance"), answer.get("currency")
        if not isinstance(balance, str) or not isinstance(currency, str):
            return None
        minor = self.currencies.parse(balance, currency).minor

        # The protocol shows balances at the currency's exponent, exactly.
        if self._decimal(minor, currency) != balance:
            raise AssertionError(f"balance {balance!r} is not at the exponent")
        return minor

    def _decimal(self, minor: int, currency: str) -> str:
        return self.currencies.format(Money(minor, currency))

    def _sign(self, body: bytes) -> str:
        return hmac_sha256_hex(self._key, body)


def _status(code: object) -> Status:
    # A code the protocol does not define reads as a final error.
    if not isinstance(code, str):
        return Status.FINAL_ERROR

    return STATUSES.get(code, Status.FINAL_ERROR)


def _headers(signature: str) -> dict[str, str]:
    return {"Content-Type": "application/json", SIGNATURE_HEADER: signature}


def _dumps(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()
