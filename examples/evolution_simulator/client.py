"""Evolution's side of One Wallet: the callbacks it sends to a casino's wallet.

`OneWalletClient` sends `check`, `balance`, `debit`, `credit`, `cancel` and
`promo_payout` to a casino's One Wallet URL (here, a gamegate provider
instance) over real HTTP, with the static `authToken` query parameter, and
reads each answer back into the conformance kit's normalized `KitAnswer`.
It implements `contracts.testing.client.ProviderClient`.

Amounts go out as JSON numbers written from minor units at the currency's
exponent (never through a float), and balances are read back exactly. Request
uuids come from `random.Random(seed)`, so a run is repeatable.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Mapping
from decimal import Decimal
from types import TracebackType
from typing import Any, Final
from urllib.parse import quote

import httpx
import orjson

from contracts.money import CurrencyTable, Money
from contracts.testing.client import KitAnswer
from contracts.wallet import Status

DEFAULT_TABLE: Final = "example-roulette-01"
DEFAULT_GAME_TYPE: Final = "roulette"
HEADERS: Final = {"Content-Type": "application/json"}

# How the client reads each One Wallet status in the closed set [OW 2.3.1].
# BET_ALREADY_EXIST only ever answers a debit already taken: a replay.
STATUSES: Mapping[str, Status] = {
    "OK": Status.OK,
    "BET_ALREADY_EXIST": Status.OK,
    "BET_ALREADY_SETTLED": Status.ALREADY_SETTLED,
    "TEMPORARY_ERROR": Status.RETRYABLE_ERROR,
    "INVALID_TOKEN_ID": Status.INVALID_SIGNATURE,
    "INVALID_SID": Status.INVALID_SESSION,
    "ACCOUNT_LOCKED": Status.PLAYER_BLOCKED,
    "FATAL_ERROR_CLOSE_USER_SESSION": Status.INVALID_SESSION,
    "UNKNOWN_ERROR": Status.FINAL_ERROR,
    "INVALID_PARAMETER": Status.BAD_REQUEST,
    "BET_DOES_NOT_EXIST": Status.TRANSACTION_NOT_FOUND,
    "INSUFFICIENT_FUNDS": Status.INSUFFICIENT_FUNDS,
    "FINAL_ERROR_ACTION_FAILED": Status.FINAL_ERROR,
}


class OneWalletClient:
    """Sends One Wallet callbacks to a casino the way Evolution does.

    `callback_url` is the base the casino configured at Evolution, for
    example `http://127.0.0.1:8080/providers/evo-live/`; each method's name
    and `?authToken=...` are appended to it. `currencies` gives the exponents
    amounts are written and read with.
    """

    def __init__(
        self,
        callback_url: str,
        auth_token: str,
        *,
        currencies: CurrencyTable | None = None,
        table: str = DEFAULT_TABLE,
        game_type: str = DEFAULT_GAME_TYPE,
        seed: int = 0,
        timeout: float = 5.0,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.callback_url = callback_url.rstrip("/") + "/"
        self.table = table
        self.game_type = game_type
        self.currencies = currencies or CurrencyTable()
        self._token = auth_token
        self._random = random.Random(seed)
        self._http = http or httpx.AsyncClient(timeout=timeout)
        self._owns_http = http is None

    async def __aenter__(self) -> OneWalletClient:
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

    async def check(
        self, *, player: str, session_token: str, channel: str = "P"
    ) -> KitAnswer:
        """Validate the redirected player and sid; the answer names the sid to use."""
        document = {
            "sid": session_token,
            "userId": player,
            "channel": {"type": channel},
            "uuid": self._uuid(),
        }

        return await self.send("check", document)

    async def balance(
        self, *, player: str, currency: str, session_token: str
    ) -> KitAnswer:
        """Ask for the player's balance, as from the game's table."""
        document = {
            "sid": session_token,
            "userId": player,
            "currency": currency,
            "game": {"type": self.game_type, "details": self._details()},
            "uuid": self._uuid(),
        }

        return await self.send("balance", document)

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
        """Place a bet; One Wallet has no free-round flag, so one is a plain debit."""
        return await self.send(
            "debit",
            self._transaction(
                player, currency, session_token, round_id, transaction_id, amount
            ),
        )

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
        """Settle the bets of `round_id` (the refId); every credit closes it.

        One Wallet names no single bet and cannot leave a round open after
        its credit, so `debit_transaction_id` and `round_closed` go unsent.
        """
        return await self.send(
            "credit",
            self._transaction(
                player, currency, session_token, round_id, transaction_id, amount
            ),
        )

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
        """Cancel a bet; the cancel carries the debit's own id, not one of its own."""
        return await self.send(
            "cancel",
            self._transaction(
                player, currency, session_token, round_id, debit_transaction_id, amount
            ),
        )

    async def promo_payout(
        self,
        *,
        player: str,
        currency: str,
        amount: int,
        promo_id: str,
        session_token: str,
        promo_type: str = "JackpotWin",
    ) -> KitAnswer:
        """Pay a promotion or jackpot win outside any bet."""
        document = {
            "sid": session_token,
            "userId": player,
            "currency": currency,
            "game": {"type": self.game_type, "details": self._details()},
            "promoTransaction": {
                "type": promo_type,
                "id": promo_id,
                "amount": self._number(amount, currency),
            },
            "uuid": self._uuid(),
        }

        return await self.send("promo_payout", document)

    async def end_round(
        self, *, player: str, currency: str, round_id: str, session_token: str
    ) -> KitAnswer:
        """One Wallet closes a round only by its credit: a no-op balance call."""
        return await self.balance(
            player=player, currency=currency, session_token=session_token
        )

    async def resend(self, answer: KitAnswer) -> KitAnswer:
        """Send exactly the same request bytes once more, as a retry does."""
        return await self.send_raw(answer.path, answer.request)

    async def send_unsigned(self, answer: KitAnswer) -> KitAnswer:
        """Send the same request with a wrong `authToken`."""
        return await self.send_raw(answer.path, answer.request, token="x" + self._token)

    async def send_malformed(self, answer: KitAnswer) -> KitAnswer:
        """Send the same request with a string where a number (or one) belongs."""
        document = _load(answer.request)
        for field in ("transaction", "promoTransaction"):
            part = document.get(field)
            if isinstance(part, dict) and "amount" in part:
                part["amount"] = str(part["amount"])
                break
        else:
            document["userId"] = 1

        return await self.send_raw(answer.path, json_bytes(document))

    async def send(self, path: str, document: Mapping[str, Any]) -> KitAnswer:
        """Serialise a document with exact numbers and send it to `path`."""
        return await self.send_raw(path, json_bytes(document))

    async def send_raw(
        self, path: str, body: bytes, *, token: str | None = None
    ) -> KitAnswer:
        """Send raw bytes to a method; `token` overrides the real `authToken`."""
        token = self._token if token is None else token
        url = f"{self.callback_url}{path}?authToken={quote(token, safe='')}"

        response = await self._http.post(url, content=body, headers=HEADERS)

        return self._read(path, body, response)

    def _read(self, path: str, body: bytes, response: httpx.Response) -> KitAnswer:
        # One Wallet reads a non-200 or an unreadable answer as a temporary
        # error [OW 2.3], and a status it does not know as an unknown error.
        document: Any = None
        if response.status_code == 200:
            try:
                document = _load(response.content)
            except ValueError:
                document = None
        if not isinstance(document, dict):
            status, replay, balance = Status.RETRYABLE_ERROR, False, None
        else:
            code = document.get("status")
            status = STATUSES.get(str(code), Status.FINAL_ERROR)
            replay = code == "BET_ALREADY_EXIST" or (
                code == "BET_ALREADY_SETTLED" and document.get("retransmission") is True
            )
            if replay:
                status = Status.OK
            balance = self._balance(document, body)

        return KitAnswer(
            http_status=response.status_code,
            status=status,
            balance=balance,
            path=path,
            request=body,
            headers=dict(HEADERS),
            replay=replay,
            body=response.content,
        )

    def _balance(self, document: Mapping[str, Any], body: bytes) -> int | None:
        balance = document.get("balance")
        if balance is None:
            return None
        currency = _load(body).get("currency")
        if not isinstance(currency, str) or type(balance) is not Decimal:
            return None

        return self.currencies.parse(balance, currency).minor

    def _transaction(
        self,
        player: str,
        currency: str,
        session_token: str,
        round_id: str,
        transaction_id: str,
        amount: int,
    ) -> dict[str, Any]:
        return {
            "sid": session_token,
            "userId": player,
            "currency": currency,
            "game": {
                "id": round_id,
                "type": self.game_type,
                "details": self._details(),
            },
            "transaction": {
                "id": transaction_id,
                "refId": round_id,
                "amount": self._number(amount, currency),
            },
            "uuid": self._uuid(),
        }

    def _details(self) -> dict[str, Any]:
        return {"table": {"id": self.table, "vid": None}}

    def _number(self, minor: int, currency: str) -> Decimal:
        return Decimal(self.currencies.format(Money(minor, currency)))

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self._random.getrandbits(128), version=4))


def json_bytes(value: Any) -> bytes:
    """Encode JSON with every `Decimal` written as a plain JSON number, unrounded."""
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("only finite numbers are JSON numbers")
        return format(value, "f").encode()
    if isinstance(value, Mapping):
        members = (
            orjson.dumps(str(k)) + b":" + json_bytes(v) for k, v in value.items()
        )
        return b"{" + b",".join(members) + b"}"
    if isinstance(value, list | tuple):
        return b"[" + b",".join(json_bytes(item) for item in value) + b"]"

    return orjson.dumps(value)


def _load(body: bytes) -> dict[str, Any]:
    document = json.loads(body, parse_float=Decimal, parse_int=Decimal)
    if not isinstance(document, dict):
        raise ValueError("not a JSON object")

    return document
