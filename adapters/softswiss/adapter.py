"""The `softswiss` adapter: the SoftSwiss aggregator / BGaming casino protocol.

What it supports
- operations: balance (a `/play` without actions), debit (`bet`), credit of
  kind win (`win`), rollback of a debit (`/rollback`, action `rollback` naming
  `original_action_id`), and end of round (`finished: true`, after the actions).
- currencies: every currency the gateway's table knows; an unknown one is a
  400.
- signature: `X-REQUEST-SIGN`, the lower-case hex HMAC-SHA256 of the raw body
  bytes keyed with the casino's `auth_token`, on every request and answer in
  both directions; callbacks are verified before anything is read.
- money format: JSON integers of minor units (`amount`, `balance`); booleans,
  floats and negative amounts are refused.
- replays: a repeated `action_id` is answered with success, carrying the
  original `tx_id` and `processed_at`.
- profile: a rollback of an unknown action succeeds (and is remembered), a
  win may settle a round without a bet, and a settled round is not reversed.
- launch: real play `POST {base_url}/sessions`, demo `POST {base_url}/demo`,
  both answered with `launch_options.game_url`. Answers must be signed.
- catalogue (a gamegate extension, the protocol has no public game list):
  `GET {base_url}/games` answering `{"games": [{"identifier", "title",
  "provider", "category", "has_demo"}]}`.

Error answers are `{"code", "message"}` plus `"balance"` where it is known:

| gamegate status                     | code | HTTP | protocol meaning           |
| ----------------------------------- | ---- | ---- | -------------------------- |
| insufficient_funds                  | 100  | 412  | not enough funds           |
| unknown_player, invalid_session,    | 101  | 412  | player is invalid          |
| session_expired                     |      |      |                            |
| limit_reached                       | 105  | 412  | player's bet limit reached |
| game_not_allowed                    | 107  | 412  | game forbidden to player   |
| player_blocked                      | 110  | 412  | player is disabled         |
| wrong_currency                      | 154  | 412  | currency not allowed       |
| transaction_not_found,              | 400  | 400  | bad request; the studio    |
| transaction_mismatch,               |      |      | must not send it again     |
| already_settled, already_rolled_back|      |      |                            |
| round_closed, bad_request           |      |      |                            |
| invalid_signature                   | 403  | 403  | request sign mismatch      |
| retryable_error, final_error,       | 500  | 500  | unknown error              |
| anything unexpected                 |      |      |                            |
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson

from adapters.softswiss.config import SoftswissConfig
from adapters.softswiss.payload import read_request
from contracts import (
    AdapterConfig,
    AdapterContext,
    BadRequest,
    Callback,
    CallbackAnswer,
    Capabilities,
    ConfigError,
    GameAdapter,
    GameDescriptor,
    GamegateError,
    InvalidSignature,
    LaunchRequest,
    LaunchResult,
    Mode,
    Operation,
    OperationOutcome,
    Profile,
    ProviderError,
    Status,
    WalletOutcome,
    WalletRequest,
)
from contracts.signing import hmac_sha256_hex, same_signature

SIGNATURE_HEADER = "X-REQUEST-SIGN"

# Each status as the protocol's (code, HTTP status, message).
ERROR_CODES: Mapping[Status, tuple[int, int, str]] = {
    Status.INSUFFICIENT_FUNDS: (100, 412, "Player has not enough funds"),
    Status.UNKNOWN_PLAYER: (101, 412, "Player is invalid"),
    Status.INVALID_SESSION: (101, 412, "Player session is invalid"),
    Status.SESSION_EXPIRED: (101, 412, "Player session has expired"),
    Status.LIMIT_REACHED: (105, 412, "Player reached a bet limit"),
    Status.GAME_NOT_ALLOWED: (107, 412, "Game is forbidden to the player"),
    Status.PLAYER_BLOCKED: (110, 412, "Player is disabled"),
    Status.WRONG_CURRENCY: (154, 412, "Currency is not allowed for the player"),
    Status.TRANSACTION_NOT_FOUND: (400, 400, "Original action not found"),
    Status.TRANSACTION_MISMATCH: (400, 400, "Action id reused with other content"),
    Status.ALREADY_SETTLED: (400, 400, "Round is already settled"),
    Status.ALREADY_ROLLED_BACK: (400, 400, "Action was already rolled back"),
    Status.ROUND_CLOSED: (400, 400, "Round is already finished"),
    Status.BAD_REQUEST: (400, 400, "Bad request"),
    Status.INVALID_SIGNATURE: (403, 403, "Request sign does not match"),
    Status.RETRYABLE_ERROR: (500, 500, "Unknown error"),
    Status.FINAL_ERROR: (500, 500, "Unknown error"),
}
UNKNOWN_ERROR = (500, 500, "Unknown error")


class SoftswissAdapter(GameAdapter):
    """Translates the SoftSwiss casino protocol to and from the contract."""

    name = "softswiss"
    version = "0.1.0"
    config_model = SoftswissConfig
    capabilities = Capabilities(
        operations=frozenset(
            {
                Operation.BALANCE,
                Operation.DEBIT,
                Operation.CREDIT,
                Operation.ROLLBACK,
                Operation.END_ROUND,
            }
        ),
        signature="X-REQUEST-SIGN: hex HMAC-SHA256 of the raw body, auth_token key",
        money_format="JSON integers of minor units",
        demo=True,
    )
    profile = Profile(
        unknown_rollback=Status.OK, credit_without_debit=True, reverse_settled=False
    )
    callback_paths = ("play", "rollback")

    config: SoftswissConfig

    def __init__(self, config: AdapterConfig, context: AdapterContext) -> None:
        if not isinstance(config, SoftswissConfig):
            raise ConfigError(
                "softswiss needs a SoftswissConfig", instance=context.instance
            )
        super().__init__(config, context)
        self._key = config.auth_token.get_secret_value().encode()

    def parse_callback(self, callback: Callback) -> WalletRequest:
        """Verify `X-REQUEST-SIGN` over the raw body, then read the body."""
        given = _header(callback.headers, SIGNATURE_HEADER)
        if not same_signature(self._sign(callback.body), given):
            raise InvalidSignature(
                "X-REQUEST-SIGN does not match the body",
                provider=self.context.instance,
            )

        if callback.method.upper() != "POST":
            raise BadRequest("callbacks must be POST", method=callback.method)

        return read_request(
            callback.path.strip("/"), callback.body, self.context.currencies
        )

    def render_outcome(
        self, callback: Callback, request: WalletRequest, outcome: WalletOutcome
    ) -> CallbackAnswer:
        """Render the ledger's outcome as the protocol's signed answer."""
        if outcome.status is not Status.OK:
            code = ERROR_CODES.get(outcome.status, UNKNOWN_ERROR)
            return self._error_answer(code, outcome.balance, outcome.message)

        # An OK without a balance is a core fault; the studio must not see 0.
        if outcome.balance is None:
            return self._error_answer(UNKNOWN_ERROR, None)

        document: dict[str, Any] = {"balance": outcome.balance}
        if request.round_id is not None:
            document["game_id"] = request.round_id
        if request.operations:
            document["transactions"] = [
                _transaction(operation) for operation in outcome.operations
            ]

        return self._answer(200, document)

    def render_error(self, callback: Callback, error: GamegateError) -> CallbackAnswer:
        """Render an error raised before the ledger as the protocol's answer."""
        if isinstance(error, InvalidSignature):
            code = ERROR_CODES[Status.INVALID_SIGNATURE]
        elif isinstance(error, BadRequest):
            code = ERROR_CODES[Status.BAD_REQUEST]
        else:
            code = UNKNOWN_ERROR

        return self._error_answer(code, None, error.message)

    async def launch(self, request: LaunchRequest) -> LaunchResult:
        """Ask the provider for a game URL, for real play or for a demo."""
        if request.mode is Mode.DEMO:
            answer = await self._call("POST", "demo", self._demo_session(request))
        else:
            answer = await self._call("POST", "sessions", self._real_session(request))

        options = answer.get("launch_options")
        url = options.get("game_url") if isinstance(options, dict) else None
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise ProviderError(
                "launch answer carries no http(s) game_url",
                provider=self.context.instance,
            )

        return LaunchResult(url=url)

    async def list_games(self) -> Sequence[GameDescriptor]:
        """Read the provider's catalogue from `GET {base_url}/games`."""
        answer = await self._call("GET", "games", None)

        games = answer.get("games")
        if not isinstance(games, list):
            raise ProviderError(
                "game list answer carries no games", provider=self.context.instance
            )
        try:
            return tuple(_game(game) for game in games)
        except (TypeError, ValueError, KeyError) as error:
            raise ProviderError(
                f"game list entry is malformed: {str(error)[:200]}",
                provider=self.context.instance,
            ) from error

    def _real_session(self, request: LaunchRequest) -> dict[str, Any]:
        session = self._demo_session(request)
        session["currency"] = request.currency
        session["urls"] = _drop_none(
            {"deposit_url": request.cashier_url, "return_url": request.lobby_url}
        )
        session["user"] = _drop_none({"id": request.player, "country": request.country})

        return _drop_none({**session, "jurisdiction": request.jurisdiction})

    def _demo_session(self, request: LaunchRequest) -> dict[str, Any]:
        return _drop_none(
            {
                "casino_id": self.config.casino_id,
                "game": request.game,
                "locale": request.language,
                "ip": request.ip,
                "client_type": request.device.value,
                "urls": _drop_none({"return_url": request.lobby_url}),
            }
        )

    async def _call(
        self, method: str, path: str, document: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        """Call the provider's API signed, and translate every failure once here."""
        body = orjson.dumps(document) if document is not None else b""
        headers = {
            SIGNATURE_HEADER: self._sign(body),
            "Accept": "application/json",
            "Content-Type": "application/json",
        }
        url = f"{self.config.base_url}/{path}"
        try:
            response = await self.context.http.request(
                method,
                url,
                content=body,
                headers=headers,
                timeout=self.config.timeout_seconds,
            )
        except httpx.TimeoutException as error:
            raise self._failure(f"{path}: timed out", retryable=True) from error
        except httpx.TransportError as error:
            raise self._failure(f"{path}: {type(error).__name__}", True) from error

        if response.status_code >= 500:
            raise self._failure(f"{path}: HTTP {response.status_code}", True)
        if response.status_code != 200:
            raise self._failure(_refusal(path, response), retryable=False)
        if not same_signature(
            self._sign(response.content), response.headers.get(SIGNATURE_HEADER)
        ):
            raise self._failure(f"{path}: answer signature does not match", False)

        try:
            answer = orjson.loads(response.content)
        except orjson.JSONDecodeError as error:
            raise self._failure(f"{path}: answer is not JSON", False) from error
        if not isinstance(answer, dict):
            raise self._failure(f"{path}: answer is not a JSON object", False)

        return answer

    def _failure(self, message: str, retryable: bool) -> ProviderError:
        return ProviderError(
            message, retryable=retryable, provider=self.context.instance
        )

    def _sign(self, body: bytes) -> str:
        return hmac_sha256_hex(self._key, body)

    def _answer(self, status: int, document: Mapping[str, Any]) -> CallbackAnswer:
        body = orjson.dumps(document)

        return CallbackAnswer(
            status=status, body=body, headers={SIGNATURE_HEADER: self._sign(body)}
        )

    def _error_answer(
        self, code: tuple[int, int, str], balance: int | None, detail: str = ""
    ) -> CallbackAnswer:
        number, status, message = code

        # Only a bad request says what was wrong with it; other answers keep
        # the protocol's fixed wording so nothing of the core leaks out.
        if number == 400 and detail:
            message = f"{message}: {detail[:200]}"
        document: dict[str, Any] = {"code": number, "message": message}
        if balance is not None:
            document["balance"] = balance

        return self._answer(status, document)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    # A plain dict from a test or a proxy may not fold the header's case.
    value = headers.get(name)
    if value is not None:
        return value
    wanted = name.lower()

    return next((v for k, v in headers.items() if k.lower() == wanted), None)


def _transaction(operation: OperationOutcome) -> dict[str, str]:
    return {
        "action_id": operation.transaction_id,
        "tx_id": operation.gateway_transaction_id,
        "processed_at": _iso_utc(operation.processed_at),
    }


def _iso_utc(moment: datetime) -> str:
    # The ledger's clock is UTC; a naive datetime is read as UTC, not local time.
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    text = moment.astimezone(UTC).isoformat(timespec="milliseconds")

    return text.replace("+00:00", "Z")


def _game(entry: Any) -> GameDescriptor:
    if not isinstance(entry, dict):
        raise TypeError("entry is not an object")

    return GameDescriptor(
        id=entry["identifier"],
        name=entry["title"],
        studio=entry["provider"],
        category=entry.get("category") or "slots",
        demo=entry.get("has_demo", False),
    )


def _refusal(path: str, response: httpx.Response) -> str:
    try:
        answer = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        answer = None
    if isinstance(answer, dict) and "code" in answer:
        detail = f"code {answer['code']!r:.20}: {answer.get('message')!r:.120}"
        return f"{path}: HTTP {response.status_code}, {detail}"

    return f"{path}: HTTP {response.status_code}"


def _drop_none(document: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in document.items() if value is not None}
