"""The `hub88` adapter: Hub88's Operator API (seamless wallet, games, free bets).

What it supports
- operations: balance (`/user/balance`, and `/user/info` read as a balance
  probe), debit (`/transaction/bet`), credit of kind win, or promo for a
  supplier promotion (`/transaction/win`), rollback (`/transaction/rollback`
  naming `reference_transaction_uuid`), and end of round (`round_closed`
  on any transaction; Hub88 has no callback that only closes a round).
- currencies: every currency the gateway's table knows; Hub88's lower-case
  sub-units (`mBTC`, `uETH`) are not currency codes the contract accepts.
- signature: `X-Hub88-Signature`, base64 RSASSA-PKCS1-v1_5 SHA-256 over the
  raw body. Callbacks are verified with Hub88's public key before anything is
  read; answers and calls to Hub88 are signed with the operator's private key.
- money format: JSON integers at 100 000 per whole unit for fiat currencies
  (EUR 3.56 is 356000) and at a configured scale otherwise (`scales`);
  converted exactly or refused, never rounded.
- session: the token given to Hub88 at launch is the gateway's session token
  with the currency appended (`{token}~EUR`), because Hub88 sends no currency
  with balance and rollback callbacks (see `adapters.hub88.payload`).
- replays: a repeated `transaction_uuid` with the same content is answered
  `RS_OK` with the balance; the same id with other content is
  `RS_ERROR_DUPLICATE_TRANSACTION`.
- profile: a rollback of an unknown transaction is `RS_OK` (and remembered,
  so the bet is refused if it arrives later); a win needs its bet
  (`RS_ERROR_TRANSACTION_DOES_NOT_EXIST` otherwise); a settled round is not
  reversed. Tokens are checked on bets only, as the protocol requires.
- free rounds: `is_free` and `reward_uuid` are kept in the operation's
  references; rewards are granted with `create_free_bets`, a method of this
  adapter (the contract has no hook for it).
- launch: `POST {base_url}/operator/generic/v2/game/url`, with currency
  `XXX` and no user or token for a demo, and `default_country` where the
  launch names none (Hub88 requires a country); catalogue:
  `POST {base_url}/operator/generic/v2/game/list`.

Every answer is HTTP 200 with `{"user", "status", "request_uuid", "currency",
"balance"}`; `currency` and `balance` are left out where the balance is not
known. The statuses, from Hub88's "Seamless Wallet response statuses -
Operator API" page unless noted:

| gamegate status     | Hub88 status                        | note                  |
| ------------------- | ----------------------------------- | --------------------- |
| ok                  | RS_OK                               |                       |
| insufficient_funds  | RS_ERROR_NOT_ENOUGH_MONEY           | with the balance      |
| unknown_player      | RS_ERROR_INVALID_TOKEN              | no unknown-user code; |
|                     |                                     | such a token is void  |
| invalid_session     | RS_ERROR_INVALID_TOKEN              |                       |
| session_expired     | RS_ERROR_TOKEN_EXPIRED              |                       |
| player_blocked      | RS_ERROR_USER_DISABLED              |                       |
| limit_reached       | RS_ERROR_LIMIT_REACHED              | named by the Supplier |
|                     |                                     | Wallet API's retry    |
|                     |                                     | policy for bets       |
| game_not_allowed    | RS_ERROR_INVALID_GAME               |                       |
| wrong_currency      | RS_ERROR_WRONG_CURRENCY             |                       |
| transaction_not_    | RS_ERROR_TRANSACTION_DOES_NOT_EXIST | a win's bet unknown   |
| found               |                                     |                       |
| transaction_mismatch| RS_ERROR_DUPLICATE_TRANSACTION      | same id, other content|
| already_rolled_back | RS_ERROR_TRANSACTION_ROLLED_BACK    | Hub88's supplier-side |
|                     |                                     | status set            |
| already_settled,    | RS_ERROR_UNKNOWN                    | no specific code      |
| round_closed        |                                     |                       |
| invalid_signature   | RS_ERROR_INVALID_SIGNATURE          |                       |
| bad_request         | RS_ERROR_WRONG_SYNTAX               | RS_ERROR_WRONG_TYPES  |
|                     |                                     | for a wrong JSON type |
| retryable_error,    | RS_ERROR_UNKNOWN                    | Hub88 rolls a bet back|
| final_error         |                                     | and retries the rest  |

RS_ERROR_INVALID_PARTNER is never sent: sub-partners are Hub88's concern.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson

from adapters.hub88.config import Hub88Config
from adapters.hub88.payload import (
    CALLBACK_PATHS,
    PROBE_CURRENCY,
    Amounts,
    CurrencyMismatch,
    UnreadableToken,
    WrongType,
    launch_token,
    read_request,
)
from adapters.hub88.signature import (
    SIGNATURE_HEADER,
    load_private_key,
    load_public_key,
    sign,
    verifies,
)
from contracts import (
    AdapterConfig,
    AdapterContext,
    AmountError,
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
    Operation,
    Profile,
    ProviderError,
    Status,
    UnknownCurrency,
    WalletOutcome,
    WalletRequest,
)

OK = "RS_OK"
UNKNOWN_ERROR = "RS_ERROR_UNKNOWN"

# Each status as the protocol's answer status; see the table above.
STATUS_CODES: Mapping[Status, str] = {
    Status.OK: OK,
    Status.INSUFFICIENT_FUNDS: "RS_ERROR_NOT_ENOUGH_MONEY",
    Status.UNKNOWN_PLAYER: "RS_ERROR_INVALID_TOKEN",
    Status.INVALID_SESSION: "RS_ERROR_INVALID_TOKEN",
    Status.SESSION_EXPIRED: "RS_ERROR_TOKEN_EXPIRED",
    Status.PLAYER_BLOCKED: "RS_ERROR_USER_DISABLED",
    Status.LIMIT_REACHED: "RS_ERROR_LIMIT_REACHED",
    Status.GAME_NOT_ALLOWED: "RS_ERROR_INVALID_GAME",
    Status.WRONG_CURRENCY: "RS_ERROR_WRONG_CURRENCY",
    Status.TRANSACTION_NOT_FOUND: "RS_ERROR_TRANSACTION_DOES_NOT_EXIST",
    Status.TRANSACTION_MISMATCH: "RS_ERROR_DUPLICATE_TRANSACTION",
    Status.ALREADY_SETTLED: UNKNOWN_ERROR,
    Status.ALREADY_ROLLED_BACK: "RS_ERROR_TRANSACTION_ROLLED_BACK",
    Status.ROUND_CLOSED: UNKNOWN_ERROR,
    Status.INVALID_SIGNATURE: "RS_ERROR_INVALID_SIGNATURE",
    Status.BAD_REQUEST: "RS_ERROR_WRONG_SYNTAX",
    Status.RETRYABLE_ERROR: UNKNOWN_ERROR,
    Status.FINAL_ERROR: UNKNOWN_ERROR,
}

# Errors raised before the ledger, most specific first.
ERROR_CODES: tuple[tuple[type[GamegateError], str], ...] = (
    (InvalidSignature, "RS_ERROR_INVALID_SIGNATURE"),
    (UnreadableToken, "RS_ERROR_INVALID_TOKEN"),
    (UnknownCurrency, "RS_ERROR_WRONG_CURRENCY"),
    (CurrencyMismatch, "RS_ERROR_WRONG_CURRENCY"),
    (WrongType, "RS_ERROR_WRONG_TYPES"),
    (BadRequest, "RS_ERROR_WRONG_SYNTAX"),
)

API = "/operator/generic/v2"
PLATFORMS: Mapping[Device, str] = {
    Device.DESKTOP: "GPL_DESKTOP",
    Device.MOBILE: "GPL_MOBILE",
}
DEMO_CURRENCY = "XXX"


@dataclass(frozen=True, slots=True)
class FreeBetReward:
    """A reward Hub88 created for a player: its id and status on Hub88's side."""

    reward_uuid: str
    player: str
    status: str | None = None


class Hub88Adapter(GameAdapter):
    """Translates Hub88's Operator API to and from the contract."""

    name = "hub88"
    version = "0.1.0"
    config_model = Hub88Config
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
        signature="X-Hub88-Signature: base64 RSA-SHA256 of the raw body, both ways",
        money_format="JSON integers at 100000 per unit (fiat) or a configured scale",
        demo=True,
        free_rounds=True,
    )
    profile = Profile(
        unknown_rollback=Status.OK, credit_without_debit=False, reverse_settled=False
    )
    callback_paths = CALLBACK_PATHS

    config: Hub88Config

    def __init__(self, config: AdapterConfig, context: AdapterContext) -> None:
        if not isinstance(config, Hub88Config):
            raise ConfigError("hub88 needs a Hub88Config", instance=context.instance)
        super().__init__(config, context)
        self._private_key = load_private_key(config.private_key.get_secret_value())
        self._hub88_key = load_public_key(config.hub88_public_key)
        self.amounts = Amounts(context.currencies, config.scales)

    def parse_callback(self, callback: Callback) -> WalletRequest:
        """Verify `X-Hub88-Signature` over the raw body, then read the body."""
        if not self._signed_by_hub88(callback):
            raise InvalidSignature(
                "X-Hub88-Signature does not verify", provider=self.context.instance
            )

        if callback.method.upper() != "POST":
            raise BadRequest("callbacks must be POST", method=callback.method)

        return read_request(callback.path.strip("/"), callback.body, self.amounts)

    def render_outcome(
        self, callback: Callback, request: WalletRequest, outcome: WalletOutcome
    ) -> CallbackAnswer:
        """Render the ledger's outcome as the protocol's signed answer."""
        document = _echo(request.raw)
        if callback.path.strip("/") == "user/info":
            # A known player without a balance in the probe currency exists.
            known = outcome.status in (Status.OK, Status.WRONG_CURRENCY)
            document["status"] = OK if known else STATUS_CODES[outcome.status]
            return self._answer(document)

        document["status"] = STATUS_CODES.get(outcome.status, UNKNOWN_ERROR)
        balance = self._scaled_balance(request.currency, outcome.balance)
        if balance is not None:
            document.update(currency=request.currency, balance=balance)

        # An OK without a balance is a core fault; Hub88 must not see 0.
        elif outcome.status is Status.OK:
            document["status"] = UNKNOWN_ERROR

        return self._answer(document)

    def render_error(self, callback: Callback, error: GamegateError) -> CallbackAnswer:
        """Render an error raised before the ledger as the protocol's answer."""
        status = next(
            (code for kind, code in ERROR_CODES if isinstance(error, kind)),
            UNKNOWN_ERROR,
        )

        # Only a body Hub88 signed is read, to echo its user and request_uuid.
        document = _echo(callback.body) if self._signed_by_hub88(callback) else {}
        document["status"] = status

        return self._answer(document)

    async def launch(self, request: LaunchRequest) -> LaunchResult:
        """Ask Hub88 for a game URL, for real play or for a demo."""
        answer = await self._call("game/url", self._game_url_request(request))

        url = answer.get("url") if isinstance(answer, dict) else None
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise self._failure("game/url: answer carries no http(s) url", False)

        return LaunchResult(url=url)

    async def list_games(self) -> Sequence[GameDescriptor]:
        """Read Hub88's catalogue from `game/list`, leaving out disabled games."""
        answer = await self._call("game/list", {"operator_id": self.config.operator_id})

        if not isinstance(answer, list):
            raise self._failure("game/list: answer is not a list of games", False)
        try:
            return tuple(_game(entry) for entry in answer if _enabled(entry))
        except (TypeError, ValueError, KeyError) as error:
            raise self._failure(
                f"game/list: entry is malformed: {str(error)[:200]}", False
            ) from error

    async def create_free_bets(
        self,
        *,
        player: str,
        currency: str,
        game: str,
        prepaid_uuid: str,
        bet_count: int | None = None,
        bet_value: int | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        reference: str | None = None,
        campaign_uuid: str | None = None,
    ) -> FreeBetReward:
        """Grant a player a free-bet reward through `freebet/rewards/create`.

        Specific to this adapter: the contract has no free-round hook yet.
        `player` is the gateway's player reference, `bet_value` is in minor
        units of `currency` (converted exactly, or `AmountError`), and
        `start`/`end` are sent in UTC. `reference` is the operator's own id
        of the reward.
        """
        value = (
            None if bet_value is None else self.amounts.to_hub88(bet_value, currency)
        )
        document = _drop_none(
            {
                "operator_id": self.config.operator_id,
                "sub_partner_id": self.config.sub_partner_id,
                "user": player,
                "currency": currency,
                "game_code": game,
                "prepaid_uuid": prepaid_uuid,
                "campaign_uuid": campaign_uuid,
                "bet_count": bet_count,
                "bet_value": value,
                "start_time": _hub88_time(start),
                "end_time": _hub88_time(end),
                "operator_reference": reference,
            }
        )

        answer = await self._call("freebet/rewards/create", document)

        reward = answer.get("reward_uuid") if isinstance(answer, dict) else None
        if not isinstance(reward, str) or not reward:
            raise self._failure("freebet/rewards/create: no reward_uuid", False)
        status = answer.get("status")

        return FreeBetReward(
            reward_uuid=reward,
            player=player,
            status=status if isinstance(status, str) else None,
        )

    def _game_url_request(self, request: LaunchRequest) -> dict[str, Any]:
        document: dict[str, Any] = {
            "operator_id": self.config.operator_id,
            "sub_partner_id": self.config.sub_partner_id,
            "game_code": request.game,
            "platform": PLATFORMS[request.device],
            "lang": request.language.split("-")[0].lower(),
            "country": request.country or self.config.default_country,
            "ip": request.ip,
            "lobby_url": request.lobby_url,
            "meta": {},
        }
        if request.mode is Mode.DEMO:
            document["currency"] = DEMO_CURRENCY
            return _drop_none(document)

        document.update(
            user=request.player,
            token=launch_token(request.session_token, request.currency),
            currency=request.currency,
            game_currency=request.currency,
            deposit_url=request.cashier_url,
        )

        return _drop_none(document)

    async def _call(self, path: str, document: Mapping[str, Any]) -> Any:
        """Call Hub88's API signed, and translate every failure once here."""
        body = orjson.dumps(document)
        headers = {
            SIGNATURE_HEADER: sign(self._private_key, body),
            "Accept": "application/json",
            "Content-Type": "application/json",
        }
        try:
            response = await self.context.http.post(
                f"{self.config.base_url}{API}/{path}",
                content=body,
                headers=headers,
                timeout=self.config.timeout_seconds,
            )
        except httpx.TimeoutException as error:
            raise self._failure(f"{path}: timed out", True) from error
        except httpx.TransportError as error:
            raise self._failure(f"{path}: {type(error).__name__}", True) from error

        if response.status_code >= 500 or response.status_code == 429:
            raise self._failure(f"{path}: HTTP {response.status_code}", True)
        if response.status_code != 200:
            raise self._failure(_refusal(path, response), False)
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError as error:
            raise self._failure(f"{path}: answer is not JSON", False) from error

    def _failure(self, message: str, retryable: bool) -> ProviderError:
        return ProviderError(
            message, retryable=retryable, provider=self.context.instance
        )

    def _signed_by_hub88(self, callback: Callback) -> bool:
        given = _header(callback.headers, SIGNATURE_HEADER)

        return verifies(self._hub88_key, callback.body, given)

    def _scaled_balance(self, currency: str, balance: int | None) -> int | None:
        if balance is None or currency == PROBE_CURRENCY:
            return None
        try:
            return self.amounts.to_hub88(balance, currency)
        except (AmountError, UnknownCurrency):
            # A balance finer than the configured scale cannot be shown
            # exactly; the answer goes out without one, as an unknown error.
            return None

    def _answer(self, document: Mapping[str, Any]) -> CallbackAnswer:
        body = orjson.dumps(document)

        return CallbackAnswer(
            status=200,
            body=body,
            headers={SIGNATURE_HEADER: sign(self._private_key, body)},
        )


def _echo(body: bytes) -> dict[str, Any]:
    """Return the `user` and `request_uuid` of a body, where it carries them."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return {}
    if not isinstance(document, dict):
        return {}

    return {
        field: document[field]
        for field in ("user", "request_uuid")
        if isinstance(document.get(field), str)
    }


def _header(headers: Mapping[str, str], name: str) -> str | None:
    # A plain dict from a test or a proxy may not fold the header's case.
    value = headers.get(name)
    if value is not None:
        return value
    wanted = name.lower()

    return next((v for k, v in headers.items() if k.lower() == wanted), None)


def _enabled(entry: Any) -> bool:
    return not isinstance(entry, dict) or entry.get("enabled", True) is not False


def _game(entry: Any) -> GameDescriptor:
    if not isinstance(entry, dict):
        raise TypeError("entry is not an object")

    return GameDescriptor(
        id=entry["game_code"],
        name=entry["name"],
        studio=entry["product"],
        category=entry.get("category") or "slots",
        demo=entry.get("demo_game_support") is True,
        free_rounds=entry.get("freebet_support") is True,
    )


def _hub88_time(moment: datetime | None) -> str | None:
    # Hub88 takes `YYYY-MM-DDThh:mm:ss`; a naive datetime is read as UTC.
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)

    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _refusal(path: str, response: httpx.Response) -> str:
    try:
        answer = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        answer = None
    if isinstance(answer, dict) and "error" in answer:
        return f"{path}: HTTP {response.status_code}, {answer['error']!r:.160}"

    return f"{path}: HTTP {response.status_code}"


def _drop_none(document: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in document.items() if value is not None}
