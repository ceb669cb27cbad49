"""The `pragmatic` adapter: Pragmatic Play's seamless wallet and integration API.

What it supports (sources in brackets, listed below)
- operations [spec]: balance (`authenticate`, `balance`), debit (`bet`; a
  free-round bet carries `bonusCode`), credit of kind win (`result`), bonus
  (`bonusWin`), jackpot (`jackpotWin`), promo (`promoWin`, and
  `promoWinAmount` riding on a `result`) and adjustment (`adjustment`, a
  debit when its amount is negative), rollback of a bet (`refund`, naming
  the bet's `reference`) and end of round (`endRound`). `GetBalancePerGame`,
  `roundDetails` and `session/expired` are not served.
- callbacks [spec]: form-encoded POSTs, one path per method, with and
  without the `.html` suffix Pragmatic appends (`bet.html`, `bet`).
- currencies [ours]: every currency the gateway's table knows. Callbacks
  name it only through the `userId` `{player}|{currency}` the adapter
  answers on authenticate (see `adapters.pragmatic.identity`).
- signature [spec]: `hash`, the lower-case hex MD5 of every other parameter
  sorted by key and joined raw as `k=v&...`, with the secret key appended;
  checked before anything else is read, in any letter case. Outbound calls
  are signed the same way. Empty values count (see
  `adapters.pragmatic.hashing`).
- money format [spec]: decimal strings in whole units (`"1.50"`) read
  exactly, refused when negative (but for `adjustment`), not plain decimals
  (`1e3`) or finer than the currency; answers carry JSON numbers with the
  currency's exponent (`"cash": 98.50`).
- replays [spec]: a resent `reference` is answered with success and the
  original `transactionId`; a resent `endRound` succeeds again.
- profile [spec]: a refund of an unknown bet succeeds (and is remembered), a
  credit may come without a bet (promotions), and a settled round is not
  reversed.
- launch [clients]: `POST {base_url}/CasinoGameAPI/game/url/` with
  `playMode` REAL or DEMO, answered with `gameURL`. Catalogue:
  `getCasinoGames`. Free rounds: `create_free_rounds` and
  `cancel_free_rounds` (`FreeRoundsBonusAPI`), an adapter-specific call
  because the contract has no free-round hook yet.

Sources: [spec] is Pragmatic Play's Integration API Specification, seamless
wallet section (methods, parameters, answers, the error table and which
codes go to reconciliation), as public integration notes transcribe it;
[enum] is a public operator integration's `PragmaticPlayWalletApiErrorCode`,
which quotes the spec's wording per code; [clients] are public integrations'
calls to `game/url`, `getCasinoGames` and `createFRB`; [ours] marks a choice
the spec leaves open.

Every answer is HTTP 200 with JSON `error` and `description`:

| gamegate status                | code | meaning                       | source   |
| ------------------------------ | ---- | ----------------------------- | -------- |
| ok                             | 0    | success                       | spec     |
| insufficient_funds             | 1    | insufficient balance          | spec     |
| unknown_player                 | 2    | player not found, logged out  | spec     |
| wrong_currency                 | 2    | the userId's currency has no  | ours: no |
|                                |      | account: no such player       | currency |
|                                |      |                               | code     |
| game_not_allowed               | 3    | player may not play the game  | enum     |
| invalid_session,               | 4    | token invalid, not found or   | spec     |
| session_expired                |      | expired (or unreadable)       |          |
| invalid_signature              | 5    | invalid hash code             | spec     |
| player_blocked                 | 6    | player is frozen or banned    | spec     |
| bad_request                    | 7    | bad parameters                | spec     |
| transaction_not_found,         | 7    | cannot succeed as sent; 7     | ours,    |
| transaction_mismatch,          |      | sends bets and results to     | spec for |
| already_settled,               |      | reconciliation, where people  | reconci- |
| already_rolled_back,           |      | look at them                  | liation  |
| round_closed                   |      |                               |          |
| limit_reached                  | 50   | bet limit has been reached    | spec     |
| retryable_error, unexpected    | 100  | internal error, retry         | spec     |
| the same, on endRound          | 130  | endRound error, retry         | spec     |
| final_error                    | 120  | internal error, no retry      | spec     |

Codes 2, 4 and 7 say in `description` which case they are, in fixed words
the simulator's client reads back. Codes 8 (game disabled), 210 (reality
check) and 310 (bet out of limits) have no status and are never sent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson

from adapters.pragmatic.config import PragmaticConfig
from adapters.pragmatic.hashing import signed, verified_form
from adapters.pragmatic.identity import (
    UnreadableToken,
    launch_problem,
    launch_token,
    user_id,
)
from adapters.pragmatic.payload import method_of, read_request
from contracts import (
    AdapterConfig,
    AdapterContext,
    BadRequest,
    Callback,
    CallbackAnswer,
    Capabilities,
    ConfigError,
    Device,
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
    UnknownOperation,
    WalletOutcome,
    WalletRequest,
)

METHODS = (
    "authenticate",
    "balance",
    "bet",
    "result",
    "bonusWin",
    "jackpotWin",
    "promoWin",
    "refund",
    "adjustment",
    "endRound",
)
GAME_URL = "CasinoGameAPI/game/url/"
GAME_LIST = "CasinoGameAPI/getCasinoGames/"
CREATE_FREE_ROUNDS = "FreeRoundsBonusAPI/createFRB/"
CANCEL_FREE_ROUNDS = "FreeRoundsBonusAPI/cancelFRB/"
STUDIO = "pragmatic-play"

# Each status as the protocol's (error code, description).
ERROR_CODES: Mapping[Status, tuple[int, str]] = {
    Status.INSUFFICIENT_FUNDS: (1, "Insufficient balance"),
    Status.UNKNOWN_PLAYER: (2, "Player not found or is logged out"),
    Status.WRONG_CURRENCY: (2, "Player not found: no account in that currency"),
    Status.GAME_NOT_ALLOWED: (3, "Bet is not allowed: the game is not allowed"),
    Status.INVALID_SESSION: (4, "Player authentication failed: invalid token"),
    Status.SESSION_EXPIRED: (4, "Player authentication failed: expired token"),
    Status.INVALID_SIGNATURE: (5, "Invalid hash code"),
    Status.PLAYER_BLOCKED: (6, "Player is frozen"),
    Status.BAD_REQUEST: (7, "Bad parameters"),
    Status.TRANSACTION_NOT_FOUND: (7, "Bad parameters: no such bet for the player"),
    Status.TRANSACTION_MISMATCH: (7, "Bad parameters: reference reused differently"),
    Status.ALREADY_SETTLED: (7, "Bad parameters: the round is already settled"),
    Status.ALREADY_ROLLED_BACK: (7, "Bad parameters: the bet was refunded"),
    Status.ROUND_CLOSED: (7, "Bad parameters: the round has already ended"),
    Status.LIMIT_REACHED: (50, "Bet limit has been reached"),
    Status.RETRYABLE_ERROR: (100, "Internal server error, retry"),
    Status.FINAL_ERROR: (120, "Internal server error, no retry"),
}
RETRY = ERROR_CODES[Status.RETRYABLE_ERROR]
END_ROUND_RETRY = (130, "Internal server error on endRound, retry")
UNREADABLE_TOKEN = (4, "Player authentication failed: token names no session")

# The methods whose success answers carry each field, per the spec's tables.
WITH_TRANSACTION = frozenset(
    {"bet", "result", "bonusWin", "jackpotWin", "promoWin", "refund", "adjustment"}
)
WITHOUT_BALANCE = frozenset({"refund"})
WITHOUT_CURRENCY = frozenset({"refund", "endRound"})

PLATFORMS: Mapping[Device, str] = {Device.DESKTOP: "WEB", Device.MOBILE: "MOBILE"}
CATEGORIES: Mapping[str, str] = {
    "vs": "slots",
    "cs": "slots",
    "lg": "live",
    "bj": "table",
    "rl": "table",
    "bc": "table",
    "vp": "table",
    "sc": "scratch",
}


class PragmaticAdapter(GameAdapter):
    """Translates Pragmatic Play's seamless wallet protocol to and from the contract."""

    name = "pragmatic"
    version = "0.1.0"
    config_model = PragmaticConfig
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
        signature="hash: hex MD5 of sorted k=v&... parameters + secret_key",
        money_format="decimal strings in whole units",
        demo=True,
        free_rounds=True,
    )
    profile = Profile(
        unknown_rollback=Status.OK, credit_without_debit=True, reverse_settled=False
    )
    callback_paths = tuple(
        path for method in METHODS for path in (f"{method}.html", method)
    )

    config: PragmaticConfig

    def __init__(self, config: AdapterConfig, context: AdapterContext) -> None:
        if not isinstance(config, PragmaticConfig):
            raise ConfigError(
                "pragmatic needs a PragmaticConfig", instance=context.instance
            )
        super().__init__(config, context)
        self._secret = config.secret_key.get_secret_value()

    def parse_callback(self, callback: Callback) -> WalletRequest:
        """Verify the form's `hash`, then read the method's parameters."""
        pairs = verified_form(
            callback.body, self._secret, provider=self.context.instance
        )

        if callback.method.upper() != "POST":
            raise BadRequest("callbacks must be POST", method=callback.method)

        return read_request(
            method_of(callback.path),
            pairs,
            callback.body,
            self.context.currencies,
            self.config.provider_id,
        )

    def render_outcome(
        self, callback: Callback, request: WalletRequest, outcome: WalletOutcome
    ) -> CallbackAnswer:
        """Render the ledger's outcome as the method's JSON answer."""
        method = _method(callback.path)
        if outcome.status is not Status.OK:
            return _error(method, ERROR_CODES.get(outcome.status, RETRY))

        # An OK without a balance or an id is a core fault; Pragmatic retries.
        transaction = outcome.operations[0] if outcome.operations else None
        if outcome.balance is None or (
            method in WITH_TRANSACTION and transaction is None
        ):
            return _error(method, RETRY)

        document: dict[str, Any] = {}
        if method == "authenticate":
            document["userId"] = user_id(request.player, request.currency)
            document["token"] = launch_token(
                request.session_token or "", request.player, request.currency
            )
        if transaction is not None and method in WITH_TRANSACTION:
            document["transactionId"] = transaction.gateway_transaction_id
        if method not in WITHOUT_CURRENCY:
            document["currency"] = outcome.currency
        if method not in WITHOUT_BALANCE:
            document["cash"] = self._number(outcome.balance, outcome.currency)
            document["bonus"] = self._number(0, outcome.currency)
        if method == "bet":
            document["usedPromo"] = self._number(0, outcome.currency)

        return _answer({**document, "error": 0, "description": "Success"})

    def render_error(self, callback: Callback, error: GamegateError) -> CallbackAnswer:
        """Render an error raised before the ledger as the method's JSON answer."""
        if isinstance(error, InvalidSignature):
            code = ERROR_CODES[Status.INVALID_SIGNATURE]
        elif isinstance(error, UnreadableToken):
            code = UNREADABLE_TOKEN
        elif isinstance(error, BadRequest):
            code = (7, f"Bad parameters: {error.message[:200]}")
        elif isinstance(error, ProviderError) and not error.retryable:
            code = ERROR_CODES[Status.FINAL_ERROR]
        else:
            code = RETRY

        return _error(_method(callback.path), code)

    async def launch(self, request: LaunchRequest) -> LaunchResult:
        """Ask Pragmatic's game URL API for a game URL, for real play or a demo."""
        answer = await self._call(GAME_URL, self._game_url_request(request))

        url = answer.get("gameURL")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise self._failure(f"{GAME_URL}: answer carries no http(s) gameURL")

        return LaunchResult(url=url)

    async def list_games(self) -> Sequence[GameDescriptor]:
        """Read the casino's catalogue from `getCasinoGames`."""
        answer = await self._call(GAME_LIST, {"secureLogin": self.config.secure_login})

        games = answer.get("gameList")
        if not isinstance(games, list):
            raise self._failure(f"{GAME_LIST}: answer carries no gameList")
        try:
            return tuple(_game(game) for game in games)
        except (TypeError, ValueError, KeyError) as error:
            raise self._failure(
                f"{GAME_LIST}: entry is malformed: {str(error)[:200]}"
            ) from error

    async def create_free_rounds(
        self,
        *,
        player: str,
        currency: str,
        games: Sequence[str],
        rounds: int,
        bonus_code: str,
        expires_at: datetime,
        starts_at: datetime | None = None,
    ) -> None:
        """Give a player free rounds on games under one bonus code (`createFRB`).

        Adapter-specific for now: the contract has no free-round hook, so the
        gateway cannot call it yet. `player` is the gateway's player
        reference; the rounds' bets and their `bonusWin` come back as
        callbacks carrying `bonusCode`. Pragmatic takes one bet size per
        game from its own configuration.
        """
        if not games or not all(games) or type(rounds) is not int or rounds < 1:
            raise BadRequest("free rounds need games and a positive round count")
        if not bonus_code or not player or not currency:
            raise BadRequest("free rounds need a bonus code, a player and a currency")
        request = {
            "secureLogin": self.config.secure_login,
            "bonusCode": bonus_code,
            "playerId": user_id(player, currency),
            "currency": currency,
            "gameIDList": ",".join(games),
            "rounds": str(rounds),
            "expirationDate": _unix_seconds(expires_at),
            "startDate": _unix_seconds(starts_at) if starts_at else None,
        }

        await self._call(CREATE_FREE_ROUNDS, request)

    async def cancel_free_rounds(self, bonus_code: str) -> None:
        """Withdraw the free rounds given under a bonus code (`cancelFRB`)."""
        if not bonus_code:
            raise BadRequest("a bonus code is required")

        await self._call(
            CANCEL_FREE_ROUNDS,
            {"secureLogin": self.config.secure_login, "bonusCode": bonus_code},
        )

    def _game_url_request(self, request: LaunchRequest) -> dict[str, str | None]:
        common: dict[str, str | None] = {
            "secureLogin": self.config.secure_login,
            "symbol": request.game,
            "language": request.language,
            "platform": PLATFORMS[request.device],
            "currency": request.currency,
            "country": request.country,
            "lobbyUrl": request.lobby_url,
        }
        if request.mode is Mode.DEMO:
            return {**common, "playMode": "DEMO"}

        problem = launch_problem(
            request.session_token, request.player, request.currency
        )
        if problem is not None:
            raise self._failure(f"cannot launch for Pragmatic: {problem}")

        return {
            **common,
            "playMode": "REAL",
            "externalPlayerId": user_id(request.player, request.currency),
            "token": launch_token(
                request.session_token, request.player, request.currency
            ),
            "cashierUrl": request.cashier_url,
        }

    async def _call(
        self, path: str, request: Mapping[str, str | None]
    ) -> dict[str, Any]:
        """Call Pragmatic's API signed, and translate every failure once here."""
        form = signed(
            {key: value for key, value in request.items() if value}, self._secret
        )
        url = f"{self.config.base_url}/{path}"
        try:
            response = await self.context.http.post(
                url,
                data=form,
                headers={"Accept": "application/json"},
                timeout=self.config.timeout_seconds,
            )
        except httpx.TimeoutException as error:
            raise self._failure(f"{path}: timed out", retryable=True) from error
        except httpx.TransportError as error:
            raise self._failure(
                f"{path}: {type(error).__name__}", retryable=True
            ) from error

        if response.status_code >= 500:
            raise self._failure(f"{path}: HTTP {response.status_code}", retryable=True)
        if response.status_code != 200:
            raise self._failure(f"{path}: HTTP {response.status_code}")

        try:
            answer = orjson.loads(response.content)
        except orjson.JSONDecodeError as error:
            raise self._failure(f"{path}: answer is not JSON") from error
        if not isinstance(answer, dict):
            raise self._failure(f"{path}: answer is not a JSON object")
        if str(answer.get("error")) != "0":
            detail = f"error {answer.get('error')!r:.20}"
            raise self._failure(f"{path}: {detail}: {answer.get('description')!r:.120}")

        return answer

    def _failure(self, message: str, *, retryable: bool = False) -> ProviderError:
        return ProviderError(
            message, retryable=retryable, provider=self.context.instance
        )

    def _number(self, minor: int, currency: str) -> orjson.Fragment:
        # A JSON number written from the exact decimal, never through a float.
        text = self.context.currencies.format(Money(minor, currency))

        return orjson.Fragment(text.encode())


def _method(path: str) -> str | None:
    try:
        return method_of(path)
    except UnknownOperation:
        return None


def _error(method: str | None, code: tuple[int, str]) -> CallbackAnswer:
    if code == RETRY and method == "endRound":
        code = END_ROUND_RETRY
    number, description = code

    return _answer({"error": number, "description": description})


def _answer(document: Mapping[str, Any]) -> CallbackAnswer:
    return CallbackAnswer(status=200, body=orjson.dumps(document))


def _game(entry: Any) -> GameDescriptor:
    if not isinstance(entry, dict):
        raise TypeError("entry is not an object")
    game_id, name = entry["gameID"], entry["gameName"]
    if not isinstance(game_id, str) or not game_id or not isinstance(name, str):
        raise ValueError("gameID and gameName must be strings")

    return GameDescriptor(
        id=game_id,
        name=name,
        studio=STUDIO,
        category=CATEGORIES.get(str(entry.get("gameTypeID")), "other"),
        demo=entry.get("demoGameAvailable") is True,
        free_rounds=entry.get("frbAvailable") is True,
    )


def _unix_seconds(moment: datetime) -> str:
    # A naive datetime is read as UTC, as the ledger's clock keeps time.
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)

    return str(int(moment.timestamp()))
