"""The `evolution` adapter: Evolution's One Wallet and User Authentication APIs.

What it supports
- operations: balance (`check` and `balance`, no operations), debit (`debit`,
  round = `transaction.refId`), credit of kind win (`credit`, which settles
  and closes the refId's round), rollback of a debit (`cancel`, which names
  the debit by its own `transaction.id`), and credit of kind promo
  (`promo_payout`). [OW 2.1, 2.2; PR]
- transaction ids: debit and credit ids as Evolution sends them; a cancel is
  recorded as `cancel:{debit id}` and a promo payout as `promo:{id}`, so
  neither can collide with a bet's id in the instance's one id space.
- currencies: every currency the gateway's table knows; an unknown one is
  refused as `INVALID_PARAMETER`.
- signature: none over the body. Every callback carries the static
  `authToken` query parameter, compared in constant time with the configured
  `auth_token` before anything else is read [OW 2]; an optional IP allow-list
  (`allowed_ips`) is checked first. A refusal is `INVALID_TOKEN_ID`.
- money format: JSON numbers in whole units (`transaction.amount`,
  `promoTransaction.amount`, `balance`), read without floats and exact at the
  currency's exponent; an amount finer than that, or above 2**63 - 1 minor
  units, is refused. Balances are written from minor units with exactly the
  currency's decimals.
- replays: a replayed debit is answered `BET_ALREADY_EXIST`, a replayed
  credit, cancel or promo payout `BET_ALREADY_SETTLED`; both are "Success"
  types that stop Evolution's retries [OW 2.3.1, 2.6], and both carry the
  balance and `"retransmission": true` [OW 2.3], so the answer itself says it
  was a replay.
- profile: a cancel of a debit never seen is `BET_DOES_NOT_EXIST` (and is
  remembered, so the late debit moves nothing); a credit needs a debit in its
  refId; a settled refId is not reversed.
- `check`: the gateway holds the session, and the contract has no request
  that validates one for a player, so `check` reads a balance in `XXX` (no
  currency): a known player is `OK`, answered with the same `sid` as the
  "refreshed" one, since an adapter cannot mint sessions. The test-only `sid`
  method [OW 2.1] is not offered for the same reason.
- launch: `POST {base_url}/ua/v1/{casino_key}/{api_token}` [UA 2, 3], the
  player's `session.id` being the gateway's session token (so `sid` in every
  callback is that token) and `player.id` the gateway's player reference;
  the answer's `entry` path is joined to `base_url` [UA 1.4]. No demo play:
  the protocol has none.
- catalogue: the Lobby API, `GET {base_url}/api/lobby/v1/{casino_key}/state`
  with HTTP Basic `casino_key:lobby_api_token` [LB]; without that token the
  adapter lists no games.

Answers are always HTTP 200 with `{"status", "balance"?, "bonus"?, "sid"?,
"retransmission"?, "uuid"}`, `uuid` echoing the request's. Each status:

| gamegate status       | One Wallet status         | source, reason                |
| --------------------- | ------------------------- | ----------------------------- |
| ok                    | OK                        | OW 2.3.1                      |
| ok, replayed debit    | BET_ALREADY_EXIST         | OW 2.3.1 "Success", OW 2.6    |
| ok, other replays     | BET_ALREADY_SETTLED       | OW 2.3.1 "Success"            |
| insufficient_funds    | INSUFFICIENT_FUNDS        | OW 2.3.1                      |
| unknown_player        | INVALID_PARAMETER         | OW 2.3.1; userId names nobody |
| invalid_session       | INVALID_SID               | OW 2.3.1                      |
| session_expired       | INVALID_SID               | OW 2.3.1 "session expired"    |
| player_blocked        | ACCOUNT_LOCKED            | OW 2.3.1                      |
| limit_reached         | FINAL_ERROR_ACTION_FAILED | ST; the MGA CASINO_LIMIT_*    |
|                       |                           | codes name which limit        |
| game_not_allowed      | FINAL_ERROR_ACTION_FAILED | ST; the protocol has no code  |
| wrong_currency        | INVALID_PARAMETER         | OW 2.3.1                      |
| transaction_not_found | BET_DOES_NOT_EXIST        | OW 2.3.1                      |
| transaction_mismatch  | INVALID_PARAMETER         | OW 2.3.1; an id reused        |
| already_settled       | BET_ALREADY_SETTLED       | OW 2.3.1                      |
| already_rolled_back   | FINAL_ERROR_ACTION_FAILED | ST; a credit of a cancelled   |
|                       |                           | bet must be looked at         |
| round_closed          | BET_ALREADY_SETTLED       | OW 2.5: a second credit of a  |
|                       |                           | settled game moves nothing    |
| round_closed, debit   | FINAL_ERROR_ACTION_FAILED | ST; the bet is refused        |
| invalid_signature     | INVALID_TOKEN_ID          | OW 2.3.1                      |
| bad_request           | INVALID_PARAMETER         | OW 2.3.1                      |
| retryable_error       | TEMPORARY_ERROR           | OW 2.3.1, the only retried    |
| final_error           | FINAL_ERROR_ACTION_FAILED | ST                            |
| anything unexpected   | UNKNOWN_ERROR             | OW 2.3.1                      |

Sources, all public descriptions of Evolution's integration:
- OW: the One Wallet integration document (sections 2.1 methods and
  `authToken`, 2.2 request fields and the cancel note, 2.3 responses,
  2.3.1 status types, 2.5 game-wise settlement, 2.6 retry policy).
- UA: the User Authentication 2.0 API document (sections 1 to 1.5).
- ST: the later status list published with integrations, which adds
  `FINAL_ERROR_ACTION_FAILED`, `GEOLOCATION_FAIL`, `BONUS_LIMIT_EXCEEDED` and
  the MGA and AAMS codes; not used beyond the rows above.
- PR: the `promo_payout` method and its `promoTransaction` {type, id, amount}.
- LB: the Lobby API's `state` answer, `{"tables": {id: {name, gameType,
  gameVertical, gameProvider, ...}}}`.
"""

from __future__ import annotations

import hmac
import ipaddress
import re
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Final
from urllib.parse import quote

import httpx
import orjson

from adapters.evolution.config import EvolutionConfig
from adapters.evolution.payload import PATHS, load_document, read_request
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
    WalletOutcome,
    WalletRequest,
)

TOKEN_PARAMETER: Final = "authToken"

# Each refused status as the protocol's status string.
STATUS_CODES: Mapping[Status, str] = {
    Status.INSUFFICIENT_FUNDS: "INSUFFICIENT_FUNDS",
    Status.UNKNOWN_PLAYER: "INVALID_PARAMETER",
    Status.INVALID_SESSION: "INVALID_SID",
    Status.SESSION_EXPIRED: "INVALID_SID",
    Status.PLAYER_BLOCKED: "ACCOUNT_LOCKED",
    Status.LIMIT_REACHED: "FINAL_ERROR_ACTION_FAILED",
    Status.GAME_NOT_ALLOWED: "FINAL_ERROR_ACTION_FAILED",
    Status.WRONG_CURRENCY: "INVALID_PARAMETER",
    Status.TRANSACTION_NOT_FOUND: "BET_DOES_NOT_EXIST",
    Status.TRANSACTION_MISMATCH: "INVALID_PARAMETER",
    Status.ALREADY_SETTLED: "BET_ALREADY_SETTLED",
    Status.ALREADY_ROLLED_BACK: "FINAL_ERROR_ACTION_FAILED",
    Status.ROUND_CLOSED: "BET_ALREADY_SETTLED",
    Status.INVALID_SIGNATURE: "INVALID_TOKEN_ID",
    Status.BAD_REQUEST: "INVALID_PARAMETER",
    Status.RETRYABLE_ERROR: "TEMPORARY_ERROR",
    Status.FINAL_ERROR: "FINAL_ERROR_ACTION_FAILED",
}

# A debit into a settled refId is refused; "already settled" would read as
# success to Evolution, which would then believe the bet was placed.
DEBIT_STATUS_CODES: Mapping[Status, str] = {
    Status.ROUND_CLOSED: "FINAL_ERROR_ACTION_FAILED",
}
OK: Final = "OK"
REPLAYED_DEBIT: Final = "BET_ALREADY_EXIST"
REPLAYED_SETTLEMENT: Final = "BET_ALREADY_SETTLED"
UNKNOWN_ERROR: Final = "UNKNOWN_ERROR"

# User Authentication failures its document says should be retried [UA 1.5.1].
RETRYABLE_LAUNCH_CODES: Final = frozenset({"G.0", "G.4", "G.5", "G.6", "G.7"})
PLAYER_ID_LENGTH: Final = 50
_LANGUAGE = re.compile(r"[a-z]{2}")


class EvolutionAdapter(GameAdapter):
    """Translates Evolution's One Wallet protocol to and from the contract."""

    name = "evolution"
    version = "0.1.0"
    config_model = EvolutionConfig
    capabilities = Capabilities(
        operations=frozenset(
            {Operation.BALANCE, Operation.DEBIT, Operation.CREDIT, Operation.ROLLBACK}
        ),
        signature="authToken query parameter, constant-time; optional IP allow-list",
        money_format="JSON numbers in whole units, exact at the currency's exponent",
        demo=False,
        free_rounds=False,
    )
    profile = Profile(
        unknown_rollback=Status.TRANSACTION_NOT_FOUND,
        credit_without_debit=False,
        reverse_settled=False,
    )
    callback_paths = PATHS

    config: EvolutionConfig

    def __init__(self, config: AdapterConfig, context: AdapterContext) -> None:
        if not isinstance(config, EvolutionConfig):
            raise ConfigError(
                "evolution needs an EvolutionConfig", instance=context.instance
            )
        super().__init__(config, context)
        self._auth_token = config.auth_token.get_secret_value().encode()
        self._networks = tuple(
            ipaddress.ip_network(value, strict=False) for value in config.allowed_ips
        )

    def parse_callback(self, callback: Callback) -> WalletRequest:
        """Check the remote address and `authToken`, then read the body."""
        if self._networks and not self._allowed(callback.remote):
            raise InvalidSignature(
                "remote address is not allowed", provider=self.context.instance
            )
        given = callback.query.get(TOKEN_PARAMETER)
        if given is None or not hmac.compare_digest(self._auth_token, given.encode()):
            raise InvalidSignature(
                "authToken does not match", provider=self.context.instance
            )

        if callback.method.upper() != "POST":
            raise BadRequest("callbacks must be POST", method=callback.method)

        return read_request(
            callback.path.strip("/"), callback.body, self.context.currencies
        )

    def render_outcome(
        self, callback: Callback, request: WalletRequest, outcome: WalletOutcome
    ) -> CallbackAnswer:
        """Render the ledger's outcome as the protocol's StandardResponse."""
        request_uuid = _request_uuid(callback.body)
        if callback.path.strip("/") == "check":
            return self._check_answer(request, outcome, request_uuid)

        if outcome.status is not Status.OK:
            return self._answer(
                _refusal_code(request, outcome.status),
                request_uuid,
                outcome.balance,
                request.currency,
            )

        # An OK without a balance is a core fault; Evolution must not see 0.
        if outcome.balance is None:
            return self._answer(UNKNOWN_ERROR, request_uuid)
        replay = any(operation.replay for operation in outcome.operations)
        status = _replay_code(request) if replay else OK

        return self._answer(
            status,
            request_uuid,
            outcome.balance,
            request.currency,
            retransmission=replay,
        )

    def render_error(self, callback: Callback, error: GamegateError) -> CallbackAnswer:
        """Render an error raised before the ledger as the protocol's answer."""
        if isinstance(error, InvalidSignature):
            # Nothing of an unauthenticated body is read, not even its uuid.
            return self._answer(STATUS_CODES[Status.INVALID_SIGNATURE], None)

        if isinstance(error, BadRequest):
            status = STATUS_CODES[Status.BAD_REQUEST]
        elif isinstance(error, ProviderError) and error.retryable:
            status = STATUS_CODES[Status.RETRYABLE_ERROR]
        else:
            status = UNKNOWN_ERROR

        return self._answer(status, _request_uuid(callback.body))

    async def launch(self, request: LaunchRequest) -> LaunchResult:
        """Authenticate the player with the UA API and return the entry URL."""
        if request.mode is Mode.DEMO:
            raise self._failure("Evolution offers no demo play", retryable=False)
        if len(request.player) > PLAYER_ID_LENGTH:
            raise self._failure(
                f"player reference is longer than Evolution's {PLAYER_ID_LENGTH}",
                retryable=False,
            )

        path = "/".join(
            ("ua", "v1", quote(self.config.casino_key, safe=""), self._api_token())
        )
        answer = await self._call("POST", path, "ua", self._authentication(request))

        entry = answer.get("entry")
        if not _is_entry_path(entry):
            raise self._failure("ua: answer carries no entry path", retryable=False)

        return LaunchResult(url=f"{self.config.base_url}{entry}")

    async def list_games(self) -> Sequence[GameDescriptor]:
        """Read the tables from the Lobby API's `state`, if its token is set."""
        if self.config.lobby_api_token is None:
            return ()

        path = f"api/lobby/v1/{quote(self.config.casino_key, safe='')}/state"
        auth = (self.config.casino_key, self.config.lobby_api_token.get_secret_value())
        answer = await self._call("GET", path, "lobby", None, auth=auth)

        tables = answer.get("tables")
        if not isinstance(tables, dict):
            raise self._failure("lobby: answer carries no tables", retryable=False)
        try:
            return tuple(_game(key, table) for key, table in tables.items())
        except (TypeError, ValueError, KeyError) as error:
            raise self._failure(
                f"lobby: table entry is malformed: {str(error)[:200]}",
                retryable=False,
            ) from None

    def _authentication(self, request: LaunchRequest) -> dict[str, Any]:
        # The gateway holds no names; `update: false` keeps these placeholders
        # out of Evolution's player records [UA 3].
        session = _drop_none({"id": request.session_token, "ip": request.ip})
        player = _drop_none(
            {
                "id": request.player,
                "update": False,
                "firstName": "Player",
                "lastName": "Player",
                "country": request.country or self.config.default_country,
                "language": _language(request.language),
                "currency": request.currency,
                "session": session,
            }
        )
        config: dict[str, Any] = {
            "game": {"table": {"id": request.game}},
            "channel": {"wrapped": False, "mobile": request.device is Device.MOBILE},
        }
        urls = _drop_none({"cashier": request.cashier_url, "lobby": request.lobby_url})
        if urls:
            config["urls"] = urls

        return {"uuid": str(uuid.uuid4()), "player": player, "config": config}

    async def _call(
        self,
        method: str,
        path: str,
        label: str,
        document: Mapping[str, Any] | None,
        *,
        auth: tuple[str, str] | None = None,
    ) -> dict[str, Any]:
        """Call one of Evolution's APIs and translate every failure once here.

        The UA path carries the API token, so messages name the API by its
        label and no error chains the request (or its URL) along.
        """
        try:
            response = await self.context.http.request(
                method,
                f"{self.config.base_url}/{path}",
                content=orjson.dumps(document) if document is not None else None,
                headers=_headers(document is not None),
                auth=auth,
                timeout=self.config.timeout_seconds,
            )
        except httpx.TimeoutException:
            raise self._failure(f"{label}: timed out", retryable=True) from None
        except httpx.TransportError as error:
            message = f"{label}: {type(error).__name__}"
            raise self._failure(message, retryable=True) from None

        if response.status_code >= 500:
            raise self._failure(f"{label}: HTTP {response.status_code}", True)
        if not 200 <= response.status_code < 300:
            codes = _error_codes(response)
            detail = f"{label}: HTTP {response.status_code}"
            if codes:
                detail += f", codes {', '.join(codes)[:120]}"
            raise self._failure(detail, bool(RETRYABLE_LAUNCH_CODES & set(codes)))

        try:
            answer = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise self._failure(f"{label}: answer is not JSON", False) from None
        if not isinstance(answer, dict):
            raise self._failure(f"{label}: answer is not a JSON object", False)

        return answer

    def _api_token(self) -> str:
        return quote(self.config.api_token.get_secret_value(), safe="")

    def _allowed(self, remote: str | None) -> bool:
        try:
            address = ipaddress.ip_address(remote or "")
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped

        return any(address in network for network in self._networks)

    def _failure(self, message: str, retryable: bool) -> ProviderError:
        return ProviderError(
            message, retryable=retryable, provider=self.context.instance
        )

    def _check_answer(
        self, request: WalletRequest, outcome: WalletOutcome, request_uuid: str | None
    ) -> CallbackAnswer:
        # A balance in "no currency" is refused for a known player as the
        # wrong currency: the player is known, which is all `check` can ask.
        if outcome.status in (Status.OK, Status.WRONG_CURRENCY):
            return self._answer(OK, request_uuid, sid=request.session_token)

        return self._answer(_refusal_code(request, outcome.status), request_uuid)

    def _answer(
        self,
        status: str,
        request_uuid: str | None,
        balance: int | None = None,
        currency: str = "",
        *,
        sid: str | None = None,
        retransmission: bool = False,
    ) -> CallbackAnswer:
        fields: dict[str, bytes] = {"status": orjson.dumps(status)}
        if balance is not None:
            fields["balance"] = self._number(balance, currency)
            fields["bonus"] = self._number(0, currency)
        if sid is not None:
            fields["sid"] = orjson.dumps(sid)
        if retransmission:
            fields["retransmission"] = b"true"
        if request_uuid is not None:
            fields["uuid"] = orjson.dumps(request_uuid)

        return CallbackAnswer(status=200, body=_json_object(fields))

    def _number(self, minor: int, currency: str) -> bytes:
        # The decimal string of exact minor units is itself a valid JSON number.
        return self.context.currencies.format(Money(minor, currency)).encode()


def _json_object(fields: Mapping[str, bytes]) -> bytes:
    """Join already-encoded JSON values into one object, numbers left as written."""
    members = (orjson.dumps(key) + b":" + value for key, value in fields.items())

    return b"{" + b",".join(members) + b"}"


def _refusal_code(request: WalletRequest, status: Status) -> str:
    if _operation(request) is Operation.DEBIT and status in DEBIT_STATUS_CODES:
        return DEBIT_STATUS_CODES[status]

    return STATUS_CODES.get(status, UNKNOWN_ERROR)


def _replay_code(request: WalletRequest) -> str:
    if _operation(request) is Operation.DEBIT:
        return REPLAYED_DEBIT

    return REPLAYED_SETTLEMENT


def _operation(request: WalletRequest) -> Operation:
    if not request.operations:
        return Operation.BALANCE

    return request.operations[0].operation


def _request_uuid(body: bytes) -> str | None:
    # The body was read once already; this second look only echoes its uuid.
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        try:
            document = load_document(body)
        except BadRequest:
            return None
    value = document.get("uuid") if isinstance(document, dict) else None

    return value if isinstance(value, str) and len(value) <= 128 else None


def _is_entry_path(entry: object) -> bool:
    # Only a path on the configured host: never another host, even relative.
    return (
        isinstance(entry, str)
        and entry.startswith("/")
        and not entry.startswith("//")
        and "\\" not in entry
        and entry.isprintable()
        and " " not in entry
    )


def _language(code: str) -> str:
    primary = re.split(r"[-_]", code.strip().lower(), maxsplit=1)[0]

    return primary if _LANGUAGE.fullmatch(primary) else "en"


def _game(key: str, table: Any) -> GameDescriptor:
    if not isinstance(table, dict):
        raise TypeError(f"table {key[:40]!r} is not an object")

    return GameDescriptor(
        id=table.get("tableId") or key,
        name=table["name"],
        studio=table.get("gameProvider") or "evolution",
        category=table.get("gameVertical") or "live",
        demo=False,
    )


def _error_codes(response: httpx.Response) -> list[str]:
    try:
        answer = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return []
    errors = answer.get("errors") if isinstance(answer, dict) else None
    if not isinstance(errors, list):
        return []

    return [
        error["code"][:16]
        for error in errors
        if isinstance(error, dict) and isinstance(error.get("code"), str)
    ]


def _headers(with_body: bool) -> dict[str, str]:
    headers = {"Accept": "application/json"}
    if with_body:
        headers["Content-Type"] = "application/json"

    return headers


def _drop_none(document: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in document.items() if value is not None}
