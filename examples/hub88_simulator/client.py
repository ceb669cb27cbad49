"""Hub88's side of the wallet protocol: signed calls to an operator's Wallet API.

`Hub88Client` sends the callbacks Hub88 sends to an operator (here, to a
gamegate provider instance) over real HTTP, signs each body with Hub88's
private key, verifies the signature of every answer with the operator's
public key, and reads each answer back into the conformance kit's terms
(`contracts.testing.client.ProviderClient`).

What it reads loses detail where the protocol does: several gamegate
statuses share one `RS_*` status, so `RS_ERROR_UNKNOWN` reads as a retryable
error (Hub88 retries or rolls back on it), and a replay is an `RS_OK` like
any other, so `replay` is never set and no transaction id comes back.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx
import orjson

from contracts import AmountError, CurrencyTable, Money, Status, UnknownCurrency
from contracts.testing.client import KitAnswer
from examples.hub88_simulator.keys import (
    SIGNATURE_HEADER,
    KeyPair,
    public_key,
    verifies,
)

if TYPE_CHECKING:
    from contracts.testing.client import ProviderClient

FIAT_SCALE = 100_000
TOKEN_SEPARATOR = "~"
DEFAULT_GAME = "sim_fruitreels"

# Each Hub88 status read back into the closed set; lossy where codes are shared.
STATUSES: Mapping[str, Status] = {
    "RS_OK": Status.OK,
    "RS_ERROR_NOT_ENOUGH_MONEY": Status.INSUFFICIENT_FUNDS,
    "RS_ERROR_INVALID_TOKEN": Status.INVALID_SESSION,
    "RS_ERROR_TOKEN_EXPIRED": Status.SESSION_EXPIRED,
    "RS_ERROR_USER_DISABLED": Status.PLAYER_BLOCKED,
    "RS_ERROR_LIMIT_REACHED": Status.LIMIT_REACHED,
    "RS_ERROR_INVALID_GAME": Status.GAME_NOT_ALLOWED,
    "RS_ERROR_WRONG_CURRENCY": Status.WRONG_CURRENCY,
    "RS_ERROR_TRANSACTION_DOES_NOT_EXIST": Status.TRANSACTION_NOT_FOUND,
    "RS_ERROR_DUPLICATE_TRANSACTION": Status.TRANSACTION_MISMATCH,
    "RS_ERROR_TRANSACTION_ROLLED_BACK": Status.ALREADY_ROLLED_BACK,
    "RS_ERROR_INVALID_SIGNATURE": Status.INVALID_SIGNATURE,
    "RS_ERROR_WRONG_SYNTAX": Status.BAD_REQUEST,
    "RS_ERROR_WRONG_TYPES": Status.BAD_REQUEST,
    "RS_ERROR_INVALID_PARTNER": Status.FINAL_ERROR,
    "RS_ERROR_UNKNOWN": Status.RETRYABLE_ERROR,
}


class UnsignedAnswer(Exception):
    """An HTTP 200 answer whose `X-Hub88-Signature` does not verify."""


def hub88_token(session_token: str, currency: str) -> str:
    """Return the token Hub88 holds for a game session, as it sends it back.

    The `hub88` adapter gives Hub88 the gateway's session token with the
    currency appended at launch; a token that already carries it is kept.
    """
    if TOKEN_SEPARATOR in session_token:
        return session_token
    return f"{session_token}{TOKEN_SEPARATOR}{currency}"


class Hub88Client:
    """Sends Hub88's wallet callbacks to an operator's Wallet API base URL.

    `callback_url` is the base the operator gave Hub88, for example
    `http://127.0.0.1:8080/providers/hub88-main/`; `user/balance`,
    `transaction/bet` and the rest are appended to it. `keys` is Hub88's key
    pair (the simulator's), `operator_public_key` verifies the answers.
    Amounts are minor units of the `currencies` table, sent at 100 000 per
    whole unit or at the currency's entry in `scales`.
    """

    def __init__(
        self,
        callback_url: str,
        keys: KeyPair,
        operator_public_key: str,
        *,
        currencies: CurrencyTable | None = None,
        scales: Mapping[str, int] | None = None,
        game: str = DEFAULT_GAME,
        timeout: float = 5.0,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.callback_url = callback_url.rstrip("/") + "/"
        self.game = game
        self.currencies = currencies or CurrencyTable()
        self._scales = dict(scales or {})
        self._keys = keys
        self._operator_key = public_key(operator_public_key)
        self._other_keys: KeyPair | None = None
        self._http = http or httpx.AsyncClient(timeout=timeout)
        self._owns_http = http is None
        self._bets: dict[str, str] = {}

    async def __aenter__(self) -> Hub88Client:
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

    async def user_info(self, *, player: str) -> KitAnswer:
        """Ask for the player's details (`/user/info`, which names no currency)."""
        return await self.send("user/info", {"user": player, **_request_id()})

    async def balance(
        self, *, player: str, currency: str, session_token: str
    ) -> KitAnswer:
        """Ask for the player's balance; the currency travels in the token."""
        document = {
            "user": player,
            "token": hub88_token(session_token, currency),
            "game_code": self.game,
            **_request_id(),
        }

        return await self.send("user/balance", document)

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
        round_closed: bool = False,
        reward_uuid: str | None = None,
    ) -> KitAnswer:
        """Place a bet (an `is_free` bet when `free_round`, usually of zero)."""
        document = {
            **self._transaction(player, currency, transaction_id, round_id),
            "token": hub88_token(session_token, currency),
            "amount": self._hub88_amount(amount, currency),
            "round_closed": round_closed,
            "is_free": free_round,
            "is_aggregated": False,
            "bet": None,
            "reward_uuid": reward_uuid,
        }
        self._bets[round_id] = transaction_id

        return await self.send("transaction/bet", document)

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
        """Pay a win naming its bet in `reference_transaction_uuid`."""
        document = {
            **self._transaction(player, currency, transaction_id, round_id),
            "token": hub88_token(session_token, currency),
            "amount": self._hub88_amount(amount, currency),
            "round_closed": round_closed,
            "reference_transaction_uuid": debit_transaction_id,
            "is_free": False,
            "bet": None,
        }

        return await self.send("transaction/win", _drop_none(document))

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
        round_closed: bool = False,
    ) -> KitAnswer:
        """Roll back a bet; Hub88 names it but sends no amount or currency."""
        document = {
            "user": player,
            "transaction_uuid": transaction_id,
            "supplier_transaction_id": f"supplier-{transaction_id}",
            "reference_transaction_uuid": debit_transaction_id,
            "token": hub88_token(session_token, currency),
            "round": round_id,
            "round_closed": round_closed,
            "game_code": self.game,
            "meta": {},
            **_request_id(),
        }

        return await self.send("transaction/rollback", document)

    async def end_round(
        self, *, player: str, currency: str, round_id: str, session_token: str
    ) -> KitAnswer:
        """Close a round with a win of 0 on its bet, as Hub88's suppliers do.

        Hub88 has no callback that only closes a round; for a round this
        client placed no bet in, a balance request stands in as the no-op.
        """
        bet = self._bets.get(round_id)
        if bet is None:
            return await self.balance(
                player=player, currency=currency, session_token=session_token
            )

        return await self.credit(
            player=player,
            currency=currency,
            amount=0,
            transaction_id=f"{round_id}-close-{uuid.uuid4()}",
            round_id=round_id,
            session_token=session_token,
            debit_transaction_id=bet,
            round_closed=True,
        )

    async def resend(self, answer: KitAnswer) -> KitAnswer:
        """Send exactly the same request bytes and headers once more."""
        return await self._post(answer.path, answer.request, dict(answer.headers))

    async def send_unsigned(self, answer: KitAnswer) -> KitAnswer:
        """Send the same request signed by a key that is not Hub88's."""
        if self._other_keys is None:
            self._other_keys = KeyPair.generate()
        signature = self._other_keys.sign(answer.request)

        return await self.send_raw(answer.path, answer.request, signature=signature)

    async def send_malformed(self, answer: KitAnswer) -> KitAnswer:
        """Send the request again, signed, with its amount as a string.

        A request without an amount gets a number for its `user` instead, so
        it breaks the protocol's types all the same.
        """
        document = orjson.loads(answer.request)
        if "amount" in document:
            document["amount"] = str(document["amount"])
        else:
            document["user"] = 12345

        return await self.send(answer.path, document)

    async def send(self, path: str, document: Mapping[str, Any]) -> KitAnswer:
        """Serialise a document, sign it and send it to `path` below the base."""
        return await self.send_raw(path, orjson.dumps(document))

    async def send_raw(
        self, path: str, body: bytes, *, signature: str | None = None
    ) -> KitAnswer:
        """Send raw bytes; `signature` overrides the real one ("" sends none)."""
        headers = {"Content-Type": "application/json"}
        signature = self._keys.sign(body) if signature is None else signature
        if signature:
            headers[SIGNATURE_HEADER] = signature

        return await self._post(path, body, headers)

    async def _post(
        self, path: str, body: bytes, headers: Mapping[str, str]
    ) -> KitAnswer:
        response = await self._http.post(
            self.callback_url + path, content=body, headers=headers
        )
        if response.status_code == 200 and not verifies(
            self._operator_key, response.content, response.headers.get(SIGNATURE_HEADER)
        ):
            raise UnsignedAnswer(f"{path}: the answer's signature does not verify")

        document = _document(response.content)
        return KitAnswer(
            http_status=response.status_code,
            status=_status(response.status_code, document),
            balance=self._minor_balance(document),
            path=path,
            request=body,
            headers=dict(headers),
            body=response.content,
        )

    def _transaction(
        self, player: str, currency: str, transaction_id: str, round_id: str
    ) -> dict[str, Any]:
        return {
            "user": player,
            "transaction_uuid": transaction_id,
            "supplier_transaction_id": f"supplier-{transaction_id}",
            "round": round_id,
            "game_code": self.game,
            "currency": currency,
            "meta": {},
            **_request_id(),
        }

    def _scale(self, currency: str) -> int:
        return self._scales.get(currency, FIAT_SCALE)

    def _hub88_amount(self, minor: int, currency: str) -> int:
        return self.currencies.to_scaled(Money(minor, currency), self._scale(currency))

    def _minor_balance(self, document: Mapping[str, Any]) -> int | None:
        balance, currency = document.get("balance"), document.get("currency")
        if type(balance) is not int or not isinstance(currency, str):
            return None
        try:
            money = self.currencies.from_scaled(
                balance, self._scale(currency), currency
            )
        except (AmountError, UnknownCurrency):
            return None

        return money.minor


def _status(http_status: int, document: Mapping[str, Any]) -> Status:
    # Hub88 reads anything but a 200 as a network failure: retried, or undone.
    if http_status >= 500:
        return Status.RETRYABLE_ERROR
    if http_status != 200:
        return Status.BAD_REQUEST
    code = document.get("status")
    if not isinstance(code, str):
        return Status.FINAL_ERROR

    return STATUSES.get(code, Status.FINAL_ERROR)


def _request_id() -> dict[str, str]:
    return {"request_uuid": str(uuid.uuid4())}


def _document(body: bytes) -> Mapping[str, Any]:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return {}
    return document if isinstance(document, dict) else {}


def _drop_none(document: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in document.items() if value is not None}


if TYPE_CHECKING:

    def _conforms(client: Hub88Client) -> ProviderClient:
        # mypy checks here that the client has every method the kit calls.
        return client
