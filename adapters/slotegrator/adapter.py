"""The `slotegrator` adapter: the Slotegrator APIgrator (GIS) merchant protocol.

What it supports
- operations: balance (`action=balance`), debit (`bet`, of type bet, tip or
  freespin), credit (`win`, of type win or freespin as a win, jackpot as a
  jackpot), rollback of a debit (`refund` naming `bet_transaction_id`), the
  rollback of a round's bets and wins in one all-or-nothing request
  (`rollback` listing `rollback_transactions[i][...]`), and end of round
  (`finished=1` on a bet or a win).
- callbacks: one URL, `/providers/{instance}/callback`, form-encoded POSTs.
- currencies: every currency the gateway's table knows; an unknown one is
  refused as a bad request.
- signature: `X-Sign`, the lower-case hex HMAC-SHA1 keyed with the merchant
  key over the body's parameters merged with `X-Merchant-Id`, `X-Timestamp`
  and `X-Nonce`, sorted and form-encoded (see `adapters.slotegrator.signing`),
  on every callback and every call to the aggregator's API. Callbacks are
  verified before anything else is read; then `X-Merchant-Id` must be the
  configured one and `X-Timestamp` (Unix seconds) within
  `timestamp_window_seconds` (default 30) of the gateway's clock, either way.
- nonces: `X-Nonce` must be present and is signed, but the adapter holds no
  state and cannot remember nonces, so a replayed request inside the window
  is not refused here. Money cannot move twice: every operation carries the
  aggregator's transaction id, and the ledger answers a repeat with the
  original result.
- money format: decimal strings of whole units (`amount`), read exactly, and
  refused when negative, malformed (`1,50`) or finer than the currency;
  answers carry `balance` as a JSON number written with exactly the
  currency's decimals (`12.50`), never through a float.
- replays: a repeated `transaction_id` is answered with success and the
  original gateway `transaction_id`.
- profile: a refund or rollback of a transaction never seen succeeds (and is
  remembered, so the original moves nothing if it arrives later); a win may
  come without a bet (jackpots, free spins); a rollback may undo wins and
  settled rounds, since the aggregator rolls back whole rounds.
- rollback ids: the ledger id of each listed undo is
  `{rollback transaction_id}:{undone transaction_id}`; the answer's
  `transaction_id` is the gateway id of the first, and
  `rollback_transactions` lists the aggregator ids that were rolled back.
- launch: real play `POST {base_url}/games/init` (the gateway's session
  token as `session_id`, the player reference as `player_id`), demo
  `POST {base_url}/games/init-demo`, both signed form posts answered with
  `{"url"}`. Games with a lobby (live tables needing `lobby_data`) are not
  launched with a table preselected.
- catalogue: `GET {base_url}/games?page=N`, signed over the query, answering
  `{"items": [...], "_meta": {"pageCount", ...}}`, read page by page.

Every answer is HTTP 200 with a JSON body; an error is `{"error_code",
"error_description"}`. The protocol has two codes: `INSUFFICIENT_FUNDS`, and
`INTERNAL_ERROR` for everything else, after which the aggregator refunds a
bet and sends a win, refund or rollback again. The description tells the
statuses apart for people and for the simulator's client:

| gamegate status       | error_code         | error_description                      |
| --------------------- | ------------------ | -------------------------------------- |
| insufficient_funds    | INSUFFICIENT_FUNDS | Not enough money to place a bet        |
| unknown_player        | INTERNAL_ERROR     | Unknown player                         |
| invalid_session       | INTERNAL_ERROR     | Invalid session                        |
| session_expired       | INTERNAL_ERROR     | Session expired                        |
| player_blocked        | INTERNAL_ERROR     | Player is blocked                      |
| limit_reached         | INTERNAL_ERROR     | Player reached a limit                 |
| game_not_allowed      | INTERNAL_ERROR     | Game is not allowed                    |
| wrong_currency        | INTERNAL_ERROR     | Currency is not allowed                |
| transaction_not_found | INTERNAL_ERROR     | Transaction not found                  |
| transaction_mismatch  | INTERNAL_ERROR     | Transaction id reused with new content |
| already_settled       | INTERNAL_ERROR     | Round is already settled               |
| already_rolled_back   | INTERNAL_ERROR     | Transaction was already rolled back    |
| round_closed          | INTERNAL_ERROR     | Round is already finished              |
| invalid_signature     | INTERNAL_ERROR     | Invalid signature                      |
| bad_request           | INTERNAL_ERROR     | Bad request: {what was wrong}          |
| retryable_error       | INTERNAL_ERROR     | Temporary error, send again            |
| final_error, other    | INTERNAL_ERROR     | Internal error                         |

Sources: the aggregator's integration documentation as its users publish it
(the `X-*` headers and the HMAC-SHA1 construction shown as PHP `ksort` plus
`http_build_query`, the five actions and their fields, the two error codes
and answering errors with HTTP 200), corroborated by public merchant
integrations; the 30-second timestamp window is what those integrations
enforce, not a figure found in a first-party page.
"""

from __future__ import annotations

import hmac
import re
import secrets
import time
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
import orjson

from adapters.slotegrator.config import SlotegratorConfig
from adapters.slotegrator.payload import read_form, read_request
from adapters.slotegrator.signing import (
    MERCHANT_HEADER,
    NONCE_HEADER,
    SIGNATURE_HEADER,
    SIGNED_HEADERS,
    TIMESTAMP_HEADER,
    form_query,
    parse_form,
    sign,
)
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
    Money,
    Operation,
    Profile,
    ProviderError,
    Status,
    WalletOutcome,
    WalletRequest,
)
from contracts.signing import same_signature

INSUFFICIENT_FUNDS = "INSUFFICIENT_FUNDS"
INTERNAL_ERROR = "INTERNAL_ERROR"

# Each status as the protocol's (error_code, error_description).
ERROR_CODES: Mapping[Status, tuple[str, str]] = {
    Status.INSUFFICIENT_FUNDS: (INSUFFICIENT_FUNDS, "Not enough money to place a bet"),
    Status.UNKNOWN_PLAYER: (INTERNAL_ERROR, "Unknown player"),
    Status.INVALID_SESSION: (INTERNAL_ERROR, "Invalid session"),
    Status.SESSION_EXPIRED: (INTERNAL_ERROR, "Session expired"),
    Status.PLAYER_BLOCKED: (INTERNAL_ERROR, "Player is blocked"),
    Status.LIMIT_REACHED: (INTERNAL_ERROR, "Player reached a limit"),
    Status.GAME_NOT_ALLOWED: (INTERNAL_ERROR, "Game is not allowed"),
    Status.WRONG_CURRENCY: (INTERNAL_ERROR, "Currency is not allowed"),
    Status.TRANSACTION_NOT_FOUND: (INTERNAL_ERROR, "Transaction not found"),
    Status.TRANSACTION_MISMATCH: (
        INTERNAL_ERROR,
        "Transaction id reused with new content",
    ),
    Status.ALREADY_SETTLED: (INTERNAL_ERROR, "Round is already settled"),
    Status.ALREADY_ROLLED_BACK: (
        INTERNAL_ERROR,
        "Transaction was already rolled back",
    ),
    Status.ROUND_CLOSED: (INTERNAL_ERROR, "Round is already finished"),
    Status.INVALID_SIGNATURE: (INTERNAL_ERROR, "Invalid signature"),
    Status.BAD_REQUEST: (INTERNAL_ERROR, "Bad request"),
    Status.RETRYABLE_ERROR: (INTERNAL_ERROR, "Temporary error, send again"),
    Status.FINAL_ERROR: (INTERNAL_ERROR, "Internal error"),
}

CALLBACK_PATH = "callback"
MAX_GAME_PAGES = 500
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_MAX_NONCE = 128


class SlotegratorAdapter(GameAdapter):
    """Translates the Slotegrator merchant protocol to and from the contract."""

    name = "slotegrator"
    version = "0.1.0"
    config_model = SlotegratorConfig
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
        signature=(
            "X-Sign: hex HMAC-SHA1 of the sorted form-encoded parameters and"
            " X-Merchant-Id/X-Timestamp/X-Nonce, merchant key"
        ),
        money_format="decimal strings of whole units; balances as exact JSON numbers",
        demo=True,
    )
    profile = Profile(
        unknown_rollback=Status.OK, credit_without_debit=True, reverse_settled=True
    )
    callback_paths = (CALLBACK_PATH,)

    config: SlotegratorConfig

    def __init__(self, config: AdapterConfig, context: AdapterContext) -> None:
        if not isinstance(config, SlotegratorConfig):
            raise ConfigError(
                "slotegrator needs a SlotegratorConfig", instance=context.instance
            )
        super().__init__(config, context)
        self._key = config.merchant_key.get_secret_value().encode()

    def parse_callback(self, callback: Callback) -> WalletRequest:
        """Verify `X-Sign`, the merchant id and the timestamp, then read the body."""
        headers = {
            name: _header(callback.headers, name) or "" for name in SIGNED_HEADERS
        }
        pairs = parse_form(callback.body)
        given = _header(callback.headers, SIGNATURE_HEADER)
        if not same_signature(sign(self._key, pairs, headers), given):
            raise self._refusal("X-Sign does not match the request")
        self._check_credentials(headers)

        if callback.method.upper() != "POST":
            raise BadRequest("callbacks must be POST", method=callback.method)

        return read_request(read_form(pairs), callback.body, self.context.currencies)

    def render_outcome(
        self, callback: Callback, request: WalletRequest, outcome: WalletOutcome
    ) -> CallbackAnswer:
        """Render the ledger's outcome as the protocol's answer."""
        if outcome.status is not Status.OK:
            return _error_answer(outcome.status)

        # An OK without a balance or an id is a core fault; never answer 0.
        if outcome.balance is None:
            return _error_answer(Status.FINAL_ERROR)
        if request.operations and not outcome.operations:
            return _error_answer(Status.FINAL_ERROR)

        document: dict[str, Any] = {
            "balance": self._amount(outcome.balance, request.currency)
        }
        if request.operations:
            document["transaction_id"] = outcome.operations[0].gateway_transaction_id
        if _is_rollback(callback):
            document["rollback_transactions"] = [
                operation.reference_transaction_id for operation in request.operations
            ]

        return _answer(document)

    def render_error(self, callback: Callback, error: GamegateError) -> CallbackAnswer:
        """Render an error raised before the ledger as the protocol's answer."""
        if isinstance(error, InvalidSignature):
            return _error_answer(Status.INVALID_SIGNATURE)
        if isinstance(error, BadRequest):
            return _error_answer(Status.BAD_REQUEST, error.message)
        if isinstance(error, ProviderError) and error.retryable:
            return _error_answer(Status.RETRYABLE_ERROR)

        return _error_answer(Status.FINAL_ERROR)

    async def launch(self, request: LaunchRequest) -> LaunchResult:
        """Ask the aggregator for a game URL, for real play or for a demo."""
        if request.mode is Mode.DEMO:
            answer = await self._call("POST", "games/init-demo", _demo_init(request))
        else:
            answer = await self._call("POST", "games/init", _real_init(request))

        url = answer.get("url")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise self._failure("games/init: answer carries no http(s) url", False)

        return LaunchResult(url=url)

    async def list_games(self) -> Sequence[GameDescriptor]:
        """Read the aggregator's catalogue from `GET {base_url}/games`, every page."""
        games: list[GameDescriptor] = []
        page, pages = 1, 1
        while page <= pages:
            answer = await self._call("GET", "games", [("page", str(page))])
            items = answer.get("items")
            if not isinstance(items, list):
                raise self._failure("games: answer carries no items", False)
            games.extend(self._games(items))
            pages = _page_count(answer)
            if pages > MAX_GAME_PAGES:
                raise self._failure(f"games: {pages} pages is too many", False)
            page += 1

        return tuple(games)

    def _check_credentials(self, headers: Mapping[str, str]) -> None:
        merchant = headers[MERCHANT_HEADER].encode()
        if not hmac.compare_digest(merchant, self.config.merchant_id.encode()):
            raise self._refusal("X-Merchant-Id is not this merchant")
        nonce = headers[NONCE_HEADER]
        if not nonce or len(nonce) > _MAX_NONCE:
            raise self._refusal("X-Nonce is missing or too long")

        stamp = headers[TIMESTAMP_HEADER]
        if not _TIMESTAMP.fullmatch(stamp):
            raise self._refusal("X-Timestamp is not a number of seconds")
        if abs(time.time() - int(stamp)) > self.config.timestamp_window_seconds:
            raise self._refusal("X-Timestamp is outside the window")

    async def _call(
        self, method: str, path: str, params: Sequence[tuple[str, str]]
    ) -> dict[str, Any]:
        """Call the aggregator's API signed, and translate every failure once here."""
        pairs = [(key.encode(), value.encode()) for key, value in params]
        query = form_query(pairs)
        headers = self._outbound_headers()
        headers[SIGNATURE_HEADER] = sign(self._key, pairs, headers)
        headers["Accept"] = "application/json"
        url = f"{self.config.base_url}/{path}"
        content = None
        if method == "GET":
            url = f"{url}?{query}" if query else url
        else:
            content = query.encode("ascii")
            headers["Content-Type"] = "application/x-www-form-urlencoded"

        try:
            response = await self.context.http.request(
                method,
                url,
                content=content,
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
            raise self._failure(_refusal_text(path, response), retryable=False)

        try:
            answer = orjson.loads(response.content)
        except orjson.JSONDecodeError as error:
            raise self._failure(f"{path}: answer is not JSON", False) from error
        if not isinstance(answer, dict):
            raise self._failure(f"{path}: answer is not a JSON object", False)

        return answer

    def _outbound_headers(self) -> dict[str, str]:
        return {
            MERCHANT_HEADER: self.config.merchant_id,
            TIMESTAMP_HEADER: str(int(time.time())),
            NONCE_HEADER: secrets.token_hex(16),
        }

    def _games(self, items: list[Any]) -> list[GameDescriptor]:
        try:
            return [_game(item) for item in items]
        except (TypeError, ValueError, KeyError) as error:
            raise self._failure(
                f"games: an entry is malformed: {str(error)[:200]}", False
            ) from error

    def _amount(self, minor: int, currency: str) -> orjson.Fragment:
        text = self.context.currencies.format(Money(minor, currency))

        return orjson.Fragment(text.encode("ascii"))

    def _refusal(self, message: str) -> InvalidSignature:
        return InvalidSignature(message, provider=self.context.instance)

    def _failure(self, message: str, retryable: bool) -> ProviderError:
        return ProviderError(
            message, retryable=retryable, provider=self.context.instance
        )


def _header(headers: Mapping[str, str], name: str) -> str | None:
    # A plain dict from a test or a proxy may not fold the header's case.
    value = headers.get(name)
    if value is not None:
        return value
    wanted = name.lower()

    return next((v for k, v in headers.items() if k.lower() == wanted), None)


def _is_rollback(callback: Callback) -> bool:
    return (b"action", b"rollback") in parse_form(callback.body)


def _answer(document: Mapping[str, Any]) -> CallbackAnswer:
    return CallbackAnswer(status=200, body=orjson.dumps(document))


def _error_answer(status: Status, detail: str = "") -> CallbackAnswer:
    code, description = ERROR_CODES.get(status, ERROR_CODES[Status.FINAL_ERROR])

    # Only a bad request says what was wrong with it; other answers keep the
    # fixed wording so nothing of the core leaks out.
    if status is Status.BAD_REQUEST and detail:
        description = f"{description}: {detail[:200]}"

    return _answer({"error_code": code, "error_description": description})


def _real_init(request: LaunchRequest) -> list[tuple[str, str]]:
    return _drop_none(
        [
            ("game_uuid", request.game),
            ("player_id", request.player),
            ("player_name", request.player),
            ("currency", request.currency),
            ("session_id", request.session_token),
            ("device", request.device.value),
            ("language", request.language),
            ("return_url", request.lobby_url),
        ]
    )


def _demo_init(request: LaunchRequest) -> list[tuple[str, str]]:
    return _drop_none(
        [
            ("game_uuid", request.game),
            ("device", request.device.value),
            ("language", request.language),
            ("return_url", request.lobby_url),
        ]
    )


def _drop_none(params: list[tuple[str, str | None]]) -> list[tuple[str, str]]:
    return [(key, value) for key, value in params if value is not None]


def _page_count(answer: Mapping[str, Any]) -> int:
    meta = answer.get("_meta")
    count = meta.get("pageCount") if isinstance(meta, dict) else None

    return count if type(count) is int and count > 0 else 1


def _game(entry: Any) -> GameDescriptor:
    if not isinstance(entry, dict):
        raise TypeError("entry is not an object")

    return GameDescriptor(
        id=entry["uuid"],
        name=entry["name"],
        studio=entry["provider"],
        category=entry.get("type") or "slots",
        free_rounds=entry.get("has_freespins") in (1, True),
    )


def _refusal_text(path: str, response: httpx.Response) -> str:
    try:
        answer = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        answer = None
    if isinstance(answer, dict) and "message" in answer:
        return f"{path}: HTTP {response.status_code}, {answer['message']!r:.160}"

    return f"{path}: HTTP {response.status_code}"
