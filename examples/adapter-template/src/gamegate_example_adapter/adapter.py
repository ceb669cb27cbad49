"""The `example` adapter: the Example wallet protocol behind gamegate's contract.

The Example protocol is invented for this template, small on purpose and
complete: a real provider's adapter has the same parts in the same order.

What it supports
- operations: every callback is `POST /wallet` with a JSON object whose `op`
  is `balance`, `bet` (a debit), `win` (a credit of kind win, naming its
  `bet` when it pays one, closing the round with `round_over: true`) or
  `refund` (a rollback of the bet named in `refund_of`).
- currencies: every currency the gateway's table knows, at its exponent.
- signature: `X-Example-Signature`, the lower-case hex HMAC-SHA256 of the
  raw body keyed with the instance's `secret`, on every callback, launch
  and answer; a callback is verified before anything else is read.
- money format: decimal strings in whole units (`"12.50"`, `"0.00000001"`),
  converted exactly by the gateway's `CurrencyTable`; JSON numbers,
  negative amounts and amounts finer than the currency are refused.
- replays: a transaction sent again is answered as the original, with the
  same gateway `transaction` id.
- profile: a refund of an unknown bet succeeds (and is remembered), a win
  may pay in a round without a bet, and a settled round is not reversed.
- launch: `POST {base_url}/launch`, answered with `{"url": ...}`, for real
  play and for demos.

Every answer is `{"status": CODE, ...}`: on OK with the `balance` and its
`currency` and, for a money movement, the gateway's `transaction` id;
otherwise with a `message`, and the `balance` and `currency` where the
balance is known. The HTTP status says only
whether the provider may send the callback again:

| gamegate status       | code                 | HTTP |
| --------------------- | -------------------- | ---- |
| ok                    | OK                   | 200  |
| insufficient_funds    | NO_FUNDS             | 200  |
| unknown_player        | UNKNOWN_PLAYER       | 200  |
| invalid_session       | BAD_SESSION          | 200  |
| session_expired       | SESSION_EXPIRED      | 200  |
| player_blocked        | PLAYER_BLOCKED       | 200  |
| limit_reached         | LIMIT_REACHED        | 200  |
| game_not_allowed      | GAME_NOT_ALLOWED     | 200  |
| wrong_currency        | WRONG_CURRENCY       | 200  |
| transaction_not_found | UNKNOWN_TRANSACTION  | 200  |
| transaction_mismatch  | TRANSACTION_CONFLICT | 200  |
| already_settled       | ROUND_SETTLED        | 200  |
| already_rolled_back   | ALREADY_REFUNDED     | 200  |
| round_closed          | ROUND_CLOSED         | 200  |
| bad_request           | BAD_REQUEST          | 400  |
| invalid_signature     | BAD_SIGNATURE        | 401  |
| final_error           | ERROR                | 500  |
| retryable_error       | TRY_AGAIN            | 503  |
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

from contracts import (
    AdapterConfig,
    AdapterContext,
    BadRequest,
    Callback,
    CallbackAnswer,
    Capabilities,
    ConfigError,
    GameAdapter,
    GamegateError,
    InvalidSignature,
    LaunchRequest,
    LaunchResult,
    Money,
    Operation,
    Profile,
    ProviderError,
    Status,
    WalletOutcome,
    WalletRequest,
)
from contracts.signing import hmac_sha256_hex, same_signature

from .config import ExampleConfig
from .payload import read_request

SIGNATURE_HEADER = "X-Example-Signature"

# Each status as the protocol's (code, HTTP status).
ERROR_CODES: Mapping[Status, tuple[str, int]] = {
    Status.OK: ("OK", 200),
    Status.INSUFFICIENT_FUNDS: ("NO_FUNDS", 200),
    Status.UNKNOWN_PLAYER: ("UNKNOWN_PLAYER", 200),
    Status.INVALID_SESSION: ("BAD_SESSION", 200),
    Status.SESSION_EXPIRED: ("SESSION_EXPIRED", 200),
    Status.PLAYER_BLOCKED: ("PLAYER_BLOCKED", 200),
    Status.LIMIT_REACHED: ("LIMIT_REACHED", 200),
    Status.GAME_NOT_ALLOWED: ("GAME_NOT_ALLOWED", 200),
    Status.WRONG_CURRENCY: ("WRONG_CURRENCY", 200),
    Status.TRANSACTION_NOT_FOUND: ("UNKNOWN_TRANSACTION", 200),
    Status.TRANSACTION_MISMATCH: ("TRANSACTION_CONFLICT", 200),
    Status.ALREADY_SETTLED: ("ROUND_SETTLED", 200),
    Status.ALREADY_ROLLED_BACK: ("ALREADY_REFUNDED", 200),
    Status.ROUND_CLOSED: ("ROUND_CLOSED", 200),
    Status.BAD_REQUEST: ("BAD_REQUEST", 400),
    Status.INVALID_SIGNATURE: ("BAD_SIGNATURE", 401),
    Status.FINAL_ERROR: ("ERROR", 500),
    Status.RETRYABLE_ERROR: ("TRY_AGAIN", 503),
}


class ExampleAdapter(GameAdapter):
    """Translates the Example wallet protocol to and from the contract.

    It declares no `version`: gamegate shows the installed distribution's.
    """

    name = "example"
    # The contract this adapter was written against, stated rather than
    # inherited: a gateway of another major version refuses to load it.
    contract_version = "1.0"
    config_model = ExampleConfig
    capabilities = Capabilities(
        operations=frozenset(
            {Operation.BALANCE, Operation.DEBIT, Operation.CREDIT, Operation.ROLLBACK}
        ),
        signature=f"{SIGNATURE_HEADER}: hex HMAC-SHA256 of the raw body, secret key",
        money_format="decimal strings in whole units",
        demo=True,
    )
    profile = Profile(
        unknown_rollback=Status.OK, credit_without_debit=True, reverse_settled=False
    )
    callback_paths = ("wallet",)

    config: ExampleConfig

    def __init__(self, config: AdapterConfig, context: AdapterContext) -> None:
        if not isinstance(config, ExampleConfig):
            raise ConfigError(
                "example needs an ExampleConfig", instance=context.instance
            )
        super().__init__(config, context)
        self._key = config.secret.get_secret_value().encode()

    def parse_callback(self, callback: Callback) -> WalletRequest:
        """Verify the signature over the raw body, then read the body."""
        given = _header(callback.headers, SIGNATURE_HEADER)
        if not same_signature(self._sign(callback.body), given):
            raise InvalidSignature(
                f"{SIGNATURE_HEADER} does not match the body",
                provider=self.context.instance,
            )

        if callback.method.upper() != "POST":
            raise BadRequest("callbacks must be POST", method=callback.method)

        return read_request(callback.body, self.context.currencies)

    def render_outcome(
        self, callback: Callback, request: WalletRequest, outcome: WalletOutcome
    ) -> CallbackAnswer:
        """Render the ledger's outcome as the protocol's signed answer."""
        if outcome.status is not Status.OK:
            return self._refusal(outcome.status, outcome.message, outcome)

        # An OK without a balance is a fault of the core; never show 0.
        if outcome.balance is None:
            return self._refusal(Status.FINAL_ERROR, "no balance")

        document: dict[str, Any] = {
            "status": "OK",
            "balance": self._decimal(outcome.balance, outcome.currency),
            "currency": outcome.currency,
        }
        if outcome.operations:
            document["transaction"] = outcome.operations[-1].gateway_transaction_id

        return self._answer(200, document)

    def render_error(self, callback: Callback, error: GamegateError) -> CallbackAnswer:
        """Render an error raised before the ledger as the protocol's answer."""
        if isinstance(error, InvalidSignature):
            status = Status.INVALID_SIGNATURE
        elif isinstance(error, BadRequest):
            status = Status.BAD_REQUEST
        elif isinstance(error, ProviderError) and error.retryable:
            status = Status.RETRYABLE_ERROR
        else:
            status = Status.FINAL_ERROR

        return self._refusal(status, error.message)

    async def launch(self, request: LaunchRequest) -> LaunchResult:
        """Ask the provider's launch API for a game URL, real or demo."""
        document = {
            "game": request.game,
            "player": request.player,
            "session": request.session_token,
            "currency": request.currency,
            "mode": request.mode.value,
            "language": request.language,
            "device": request.device.value,
            "lobby_url": request.lobby_url,
        }

        answer = await self._call("launch", document)

        url = answer.get("url")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise self._failure("launch answer carries no http(s) url", False)

        return LaunchResult(url=url)

    async def _call(self, path: str, document: Mapping[str, Any]) -> dict[str, Any]:
        """Call the provider's API signed, and translate every failure here."""
        body = _dumps(document)
        headers = {
            SIGNATURE_HEADER: self._sign(body),
            "Content-Type": "application/json",
        }
        try:
            response = await self.context.http.post(
                f"{self.config.base_url}/{path}",
                content=body,
                headers=headers,
                timeout=self.config.timeout_seconds,
            )
        except httpx.TimeoutException as error:
            raise self._failure(f"{path}: timed out", True) from error
        except httpx.TransportError as error:
            raise self._failure(f"{path}: {type(error).__name__}", True) from error

        if response.status_code >= 500:
            raise self._failure(f"{path}: HTTP {response.status_code}", True)
        if response.status_code != 200:
            raise self._failure(f"{path}: HTTP {response.status_code}", False)
        given = response.headers.get(SIGNATURE_HEADER)
        if not same_signature(self._sign(response.content), given):
            raise self._failure(f"{path}: answer signature does not match", False)

        try:
            answer = json.loads(response.content)
        except ValueError as error:
            raise self._failure(f"{path}: answer is not JSON", False) from error
        if not isinstance(answer, dict):
            raise self._failure(f"{path}: answer is not a JSON object", False)

        return answer

    def _failure(self, message: str, retryable: bool) -> ProviderError:
        return ProviderError(
            message, retryable=retryable, provider=self.context.instance
        )

    def _refusal(
        self, status: Status, message: str, outcome: WalletOutcome | None = None
    ) -> CallbackAnswer:
        code, http_status = ERROR_CODES.get(status, ERROR_CODES[Status.FINAL_ERROR])
        document: dict[str, Any] = {"status": code, "message": message[:200]}
        if outcome is not None and outcome.balance is not None:
            document["balance"] = self._decimal(outcome.balance, outcome.currency)
            document["currency"] = outcome.currency

        return self._answer(http_status, document)

    def _answer(self, status: int, document: Mapping[str, Any]) -> CallbackAnswer:
        body = _dumps(document)

        return CallbackAnswer(
            status=status, body=body, headers={SIGNATURE_HEADER: self._sign(body)}
        )

    def _decimal(self, minor: int, currency: str) -> str:
        return self.context.currencies.format(Money(minor, currency))

    def _sign(self, body: bytes) -> str:
        return hmac_sha256_hex(self._key, body)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    # aiohttp's headers fold case; a plain dict from a test or a proxy may not.
    value = headers.get(name)
    if value is not None:
        return value
    wanted = name.lower()

    return next((v for k, v in headers.items() if k.lower() == wanted), None)


def _dumps(document: Mapping[str, Any]) -> bytes:
    present = {key: value for key, value in document.items() if value is not None}

    return json.dumps(present, separators=(",", ":")).encode()
