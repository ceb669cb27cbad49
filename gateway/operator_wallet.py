"""The gateway's client for the casino's own wallet ("operator wallet mode").

The contract is `docs/operator-wallet.openapi.yaml`. Every request and every
answer is signed: `X-Gamegate-Timestamp` (unix seconds) and
`X-Gamegate-Signature`, the lower-case hex HMAC-SHA256 of `{timestamp}.` and
the raw body under the shared secret.

Every call carries an idempotency key, so every call may be sent again: the
client retries connection errors, timeouts and 5xx answers with jittered
exponential backoff, within `attempts` and within one `deadline` across all
attempts. Whatever gives no verified answer in time raises `WalletUnavailable`:
the wallet may or may not have applied the call, and the ledger must resolve
it (by `transaction_state`, or a rollback) before trusting the balance.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final
from urllib.parse import quote

import aiohttp
import orjson
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

TIMESTAMP_HEADER: Final = "X-Gamegate-Timestamp"
SIGNATURE_HEADER: Final = "X-Gamegate-Signature"
WINDOW_SECONDS: Final = 300

# The paths the client calls, by operation; the contract test checks each of
# them against the OpenAPI document so the two cannot drift apart.
PATHS: Final = {
    "balance": ("POST", "/balance"),
    "debit": ("POST", "/debit"),
    "credit": ("POST", "/credit"),
    "rollback": ("POST", "/rollback"),
    "transaction_state": ("GET", "/transactions/{idempotency_key}"),
}

# Enough connections for the callbacks one gateway process serves at once;
# keep-alive matters more than the limit, since a TLS handshake per callback
# would cost more than the wallet's own work.
_CONNECTIONS = 100
_KEEPALIVE_SECONDS = 30.0
_BACKOFF_FIRST = 0.05
_BACKOFF_MAX = 0.5


class WalletStatus(StrEnum):
    """The closed set of business answers the operator's wallet gives."""

    OK = "ok"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    UNKNOWN_PLAYER = "unknown_player"
    PLAYER_BLOCKED = "player_blocked"
    LIMIT_REACHED = "limit_reached"
    NOT_FOUND = "not_found"
    ROLLED_BACK = "rolled_back"
    MISMATCH = "mismatch"


class TransactionState(StrEnum):
    """What the wallet did with an idempotency key, for reconciliation."""

    APPLIED = "applied"
    ROLLED_BACK = "rolled_back"
    REFUSED = "refused"
    NOT_FOUND = "not_found"


@dataclass(frozen=True, slots=True)
class WalletAnswer:
    """The wallet's verified answer: a status, the balance, its transaction id."""

    status: WalletStatus
    balance: int | None = None
    wallet_transaction_id: str | None = None


class WalletUnavailable(Exception):
    """No verified answer within the deadline; the outcome is unknown.

    Raised on timeouts, connection errors, 5xx answers, answers that are not
    signed by the wallet, and 4xx answers other than 400.
    """

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"operator wallet {path}: {reason}")
        self.path = path
        self.reason = reason


class WalletRejected(Exception):
    """The wallet answered 400: the gateway sent a malformed request, a bug."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"operator wallet refused {path} as malformed: {reason}")
        self.path = path
        self.reason = reason


class _ServerFailure(Exception):
    """A 5xx answer: the wallet failed, and the call may be sent again."""


_RETRYABLE = (
    aiohttp.ClientConnectionError,
    aiohttp.ClientPayloadError,
    TimeoutError,
    _ServerFailure,
)


def sign(secret: bytes | str, timestamp: int | str, body: bytes) -> str:
    """Return the contract's signature of a body sent at a unix timestamp."""
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


class OperatorWalletClient:
    """Calls the operator's wallet over HTTP with the signed contract."""

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        deadline: float = 2.5,
        attempts: int = 3,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if deadline <= 0 or attempts < 1:
            raise ValueError("deadline must be positive and attempts at least 1")
        self._url = url.rstrip("/")
        self._key = secret.encode()
        self._deadline = deadline
        self._attempts = attempts
        self._clock = clock
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        """Open the connection pool; call it inside the running event loop."""
        if self._session is not None:
            return
        connector = aiohttp.TCPConnector(
            limit=_CONNECTIONS, keepalive_timeout=_KEEPALIVE_SECONDS
        )
        # Only connecting gets its own bound, so a wallet host that does not
        # accept leaves time for another attempt; the answer itself is bounded
        # by the overall deadline alone.
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=self._deadline / self._attempts
        )
        self._session = aiohttp.ClientSession(connector=connector, timeout=timeout)

    async def close(self) -> None:
        """Close the connection pool."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> OperatorWalletClient:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def balance(
        self, *, operator: str, player: str, currency: str
    ) -> WalletAnswer:
        """Return the player's balance in minor units of the currency."""
        document = {"operator": operator, "player": player, "currency": currency}

        return _wallet_answer("/balance", await self._post("balance", document))

    async def debit(
        self,
        *,
        idempotency_key: str,
        operator: str,
        player: str,
        currency: str,
        amount: int,
        provider: str,
        transaction_id: str,
        round_id: str | None,
        game: str | None,
    ) -> WalletAnswer:
        """Take `amount` minor units from the player, once per idempotency key."""
        document = {
            "idempotency_key": idempotency_key,
            "operator": operator,
            "player": player,
            "currency": currency,
            "amount": amount,
            "provider": provider,
            "transaction_id": transaction_id,
            "round_id": round_id,
            "game": game,
        }

        return _wallet_answer("/debit", await self._post("debit", document))

    async def credit(
        self,
        *,
        idempotency_key: str,
        operator: str,
        player: str,
        currency: str,
        amount: int,
        provider: str,
        transaction_id: str,
        round_id: str | None,
        game: str | None,
        kind: str,
    ) -> WalletAnswer:
        """Give `amount` minor units to the player, once per idempotency key."""
        document = {
            "idempotency_key": idempotency_key,
            "operator": operator,
            "player": player,
            "currency": currency,
            "amount": amount,
            "provider": provider,
            "transaction_id": transaction_id,
            "round_id": round_id,
            "game": game,
            "kind": kind,
        }

        return _wallet_answer("/credit", await self._post("credit", document))

    async def rollback(
        self,
        *,
        idempotency_key: str,
        original_idempotency_key: str,
        operator: str,
        player: str,
        currency: str,
        amount: int,
    ) -> WalletAnswer:
        """Undo the debit or credit of another key; an unknown one is remembered."""
        document = {
            "idempotency_key": idempotency_key,
            "original_idempotency_key": original_idempotency_key,
            "operator": operator,
            "player": player,
            "currency": currency,
            "amount": amount,
        }

        return _wallet_answer("/rollback", await self._post("rollback", document))

    async def transaction_state(self, idempotency_key: str) -> TransactionState:
        """Return what the wallet did with an idempotency key."""
        method, template = PATHS["transaction_state"]
        path = template.format(idempotency_key=quote(idempotency_key, safe=""))
        answer = await self._call(method, path, b"")
        try:
            return TransactionState(answer.get("status", ""))
        except ValueError:
            raise WalletUnavailable(path, "answer has no known state") from None

    async def _post(
        self, operation: str, document: Mapping[str, Any]
    ) -> dict[str, Any]:
        method, path = PATHS[operation]
        return await self._call(method, path, orjson.dumps(document))

    async def _call(self, method: str, path: str, body: bytes) -> dict[str, Any]:
        deadline = asyncio.timeout(self._deadline)
        try:
            async with deadline:
                # Nearly every call succeeds at once, so the first attempt
                # skips building tenacity's machinery, a tenth of the CPU
                # time of a callback in operator wallet mode.
                try:
                    answer = await self._send(method, path, body)
                except _RETRYABLE:
                    if self._attempts == 1:
                        raise
                    answer = await self._retry(method, path, body)
        except _RETRYABLE as error:
            if deadline.expired():
                reason = f"no answer within {self._deadline}s"
            else:
                reason = f"{self._attempts} attempts failed, last: {_describe(error)}"
            raise WalletUnavailable(path, reason) from error

        return answer

    async def _retry(self, method: str, path: str, body: bytes) -> dict[str, Any]:
        # The first attempt failed: wait as tenacity would have after it, then
        # let tenacity run the others, its waits doubled to stay in step.
        await asyncio.sleep(random.uniform(0, min(_BACKOFF_FIRST, _BACKOFF_MAX)))
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._attempts - 1),
            wait=wait_random_exponential(
                multiplier=2 * _BACKOFF_FIRST, max=_BACKOFF_MAX
            ),
            retry=retry_if_exception_type(_RETRYABLE),
            reraise=True,
        )
        answer: dict[str, Any] = await retrying(self._send, method, path, body)

        return answer

    async def _send(self, method: str, path: str, body: bytes) -> dict[str, Any]:
        if self._session is None:
            raise RuntimeError("call OperatorWalletClient.start() first")
        async with self._session.request(
            method,
            self._url + path,
            data=body or None,
            headers=self._headers(body),
        ) as response:
            raw = await response.read()
            status = response.status
            headers = response.headers

        if status >= 500:
            raise _ServerFailure(f"HTTP {status}")
        # Verified before anything is read from it: an unsigned answer may come
        # from anything between us and the wallet, so it tells us nothing.
        if not self._verified(headers, raw):
            raise WalletUnavailable(path, f"HTTP {status} answer not signed by wallet")
        if status == 400:
            raise WalletRejected(path, _error_text(raw))
        if status != 200:
            raise WalletUnavailable(path, f"HTTP {status}: {_error_text(raw)}")

        return _document(path, raw)

    def _headers(self, body: bytes) -> dict[str, str]:
        timestamp = str(int(self._clock()))
        headers = {
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(self._key, timestamp, body),
        }
        if body:
            headers["Content-Type"] = "application/json"

        return headers

    def _verified(self, headers: Mapping[str, str], raw: bytes) -> bool:
        timestamp = headers.get(TIMESTAMP_HEADER, "")
        given = headers.get(SIGNATURE_HEADER, "")
        if not (timestamp.isascii() and timestamp.isdigit()):
            return False
        if abs(self._clock() - int(timestamp)) > WINDOW_SECONDS:
            return False
        expected = sign(self._key, timestamp, raw)

        return hmac.compare_digest(expected.encode(), given.encode())


def _document(path: str, raw: bytes) -> dict[str, Any]:
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise WalletUnavailable(path, "answer is not JSON") from None
    if not isinstance(document, dict):
        raise WalletUnavailable(path, "answer is not a JSON object")

    return document


def _wallet_answer(path: str, document: Mapping[str, Any]) -> WalletAnswer:
    # A signed answer the contract does not allow is a wallet bug; whether it
    # moved money is as unknown as with no answer at all.
    try:
        status = WalletStatus(document.get("status", ""))
    except ValueError:
        raise WalletUnavailable(path, "answer has no known status") from None
    balance = document.get("balance")
    wallet_transaction_id = document.get("wallet_transaction_id")
    if balance is not None and (type(balance) is not int or balance < 0):
        raise WalletUnavailable(path, "answer's balance is not minor units")
    if wallet_transaction_id is not None and not isinstance(wallet_transaction_id, str):
        raise WalletUnavailable(path, "answer's wallet_transaction_id is not text")

    return WalletAnswer(status, balance, wallet_transaction_id)


def _error_text(raw: bytes) -> str:
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw[:200].decode(errors="replace")
    error = document.get("error") if isinstance(document, dict) else None

    return str(error)[:200] if error is not None else raw[:200].decode(errors="replace")


def _describe(error: BaseException) -> str:
    return str(error) or type(error).__name__
