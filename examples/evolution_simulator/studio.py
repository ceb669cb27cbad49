"""Evolution's own APIs, simulated: User Authentication (launch) and the Lobby.

It answers as Evolution does: `POST /ua/v1/{casino_key}/{api_token}` checks
the key and token and the request body (with the document's G.* and V.*
error codes) and answers an `entry` path; `GET /entry` is the game page the
player lands on; `GET /api/lobby/v1/{casino_key}/state` lists the tables,
behind HTTP Basic `casino_key:lobby_token`.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import random
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from html import escape
from typing import Any, TypeGuard
from urllib.parse import parse_qs, urlsplit

import orjson
from aiohttp import web

_COUNTRY = re.compile(r"[A-Z]{2}")
_CURRENCY = re.compile(r"[A-Z][A-Z0-9]{2,9}")
_LANGUAGE = re.compile(r"[a-z]{2}")


@dataclass(frozen=True, slots=True)
class StudioTable:
    """One table (or slot game) the simulated studio offers."""

    table_id: str
    name: str
    game_type: str
    vertical: str = "live"


DEFAULT_TABLES = (
    StudioTable("example-roulette-01", "Example Roulette", "roulette"),
    StudioTable("example-blackjack-01", "Example Blackjack", "blackjack"),
    StudioTable("example-baccarat-01", "Example Baccarat", "baccarat"),
    StudioTable("example-wheel-01", "Example Money Wheel", "moneywheel"),
)


@dataclass(frozen=True, slots=True)
class LaunchedSession:
    """A player session the studio opened, as the casino described it.

    `user_id` and `sid` are what the studio sends back in every One Wallet
    callback of this session.
    """

    token: str
    user_id: str
    sid: str
    currency: str
    country: str
    language: str
    table_id: str | None
    mobile: bool
    ip: str | None = None
    urls: Mapping[str, str] | None = None


class StudioRefusal(Exception):
    """A request the studio refuses, with its HTTP status and error code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class Studio:
    """The simulated studio's state: its credentials, tables and sessions.

    Entry tokens come from `random.Random(seed)`, so a run is repeatable;
    that is fine for a simulator and wrong for a real studio.
    """

    def __init__(
        self,
        casino_key: str,
        api_token: str,
        *,
        lobby_token: str | None = None,
        tables: Sequence[StudioTable] = DEFAULT_TABLES,
        seed: int = 0,
    ) -> None:
        self.casino_key = casino_key
        self._api_token = api_token.encode()
        self._lobby_token = lobby_token.encode() if lobby_token else None
        self.tables = {table.table_id: table for table in tables}
        self.sessions: dict[str, LaunchedSession] = {}
        self._random = random.Random(seed)
        self._failures: list[int] = []

    def fail_launches(self, status: int, times: int = 1) -> None:
        """Answer the next `times` launches with HTTP `status` and code G.0."""
        self._failures.extend([status] * times)

    def session_for(self, game_url: str) -> LaunchedSession:
        """Return the session a game URL from this studio opens."""
        query = parse_qs(urlsplit(game_url).query)

        return self.sessions[query["JSESSIONID"][0]]

    def authenticate(self, casino_key: str, api_token: str) -> None:
        """Refuse a UA call whose casino key or API token is wrong (G.1, G.2)."""
        if casino_key != self.casino_key:
            raise StudioRefusal(401, "G.1", f"Unknown casino {casino_key[:40]}")
        if not hmac.compare_digest(self._api_token, api_token.encode()):
            raise StudioRefusal(401, "G.2", "Provided apiToken is incorrect")

    def open_session(self, document: Mapping[str, Any]) -> LaunchedSession:
        """Check a User Authentication body and record the session it opens."""
        if self._failures:
            raise StudioRefusal(self._failures.pop(0), "G.0", "Could not authenticate")

        if not _text(document.get("uuid")):
            raise StudioRefusal(400, "V.16", "uuid can't be empty")
        player = _object(document, "player", "V.17")
        session = _object(player, "session", "V.8")
        config = _object(document, "config", "V.18")
        channel = _object(config, "channel", "V.20")
        _check_player(player)
        ip = _session_ip(session)
        if type(channel.get("wrapped")) is not bool:
            raise StudioRefusal(400, "V.27", "config.channel.wrapped is missing")
        mobile = channel.get("mobile", False)
        if type(mobile) is not bool:
            raise StudioRefusal(400, "V.40", "config.channel.mobile is not boolean")

        launched = LaunchedSession(
            token=f"{self._random.getrandbits(160):040x}",
            user_id=player["id"],
            sid=session["id"],
            currency=player["currency"],
            country=player["country"],
            language=player["language"],
            table_id=self._table_id(config),
            mobile=mobile,
            ip=ip,
            urls=_urls(config.get("urls")),
        )
        self.sessions[launched.token] = launched

        return launched

    def lobby_allowed(self, authorization: str | None) -> bool:
        """Return whether a Lobby API call carries the right Basic credentials."""
        if self._lobby_token is None or not authorization:
            return False
        scheme, _, encoded = authorization.partition(" ")
        try:
            decoded = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            return False
        key, _, token = decoded.partition(b":")

        return scheme.lower() == "basic" and (
            hmac.compare_digest(key, self.casino_key.encode())
            & hmac.compare_digest(token, self._lobby_token)
        )

    @asynccontextmanager
    async def serve(self, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
        """Serve the studio's APIs over HTTP and yield their base URL."""
        runner = web.AppRunner(create_app(self))
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port)
            await site.start()
            bound_port = runner.addresses[0][1]
            shown = f"[{host}]" if ":" in host else host
            yield f"http://{shown}:{bound_port}"
        finally:
            await runner.cleanup()

    def _table_id(self, config: Mapping[str, Any]) -> str | None:
        game = config.get("game")
        if game is None:
            return None
        table = game.get("table") if isinstance(game, dict) else None
        if table is None:
            return None
        table_id = table.get("id") if isinstance(table, dict) else None
        if not _text(table_id):
            raise StudioRefusal(400, "V.26", "config.game.table.id is missing")
        if table_id not in self.tables:
            raise StudioRefusal(400, "V.34", f"Table with id {table_id} does not exist")

        return str(table_id)


def run_simulator(
    casino_key: str,
    api_token: str,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    lobby_token: str | None = None,
    tables: Sequence[StudioTable] = DEFAULT_TABLES,
    seed: int = 0,
) -> AbstractAsyncContextManager[str]:
    """Start a fresh studio on `host:port` (0 picks a free port); yield its URL.

    Use as `async with run_simulator(key, token) as base_url:`. To look at
    the sessions it opened, build a `Studio` and use `async with studio.serve()`.
    """
    studio = Studio(
        casino_key, api_token, lobby_token=lobby_token, tables=tables, seed=seed
    )

    return studio.serve(host, port)


STUDIO = web.AppKey("studio", Studio)


def create_app(studio: Studio) -> web.Application:
    """Build the aiohttp application that answers the studio's APIs."""
    app = web.Application()
    app[STUDIO] = studio
    app.router.add_post("/ua/v1/{casino_key}/{api_token}", _authenticate_user)
    app.router.add_get("/entry", _game_page)
    app.router.add_get("/api/lobby/v1/{casino_key}/state", _lobby_state)

    return app


async def _authenticate_user(request: web.Request) -> web.Response:
    studio = request.app[STUDIO]
    try:
        studio.authenticate(
            request.match_info["casino_key"], request.match_info["api_token"]
        )
        document = _document(await request.read())
        session = studio.open_session(document)
    except StudioRefusal as refusal:
        errors = [{"code": refusal.code, "message": refusal.message}]
        return _json(refusal.status, {"errors": errors})

    params = base64.urlsafe_b64encode(
        f"site=1\ntable={session.table_id or 'lobby'}".encode()
    ).decode()
    entry = f"/entry?params={params}&JSESSIONID={session.token}"

    return _json(200, {"entry": entry, "entryEmbedded": f"{entry}&embedded"})


async def _game_page(request: web.Request) -> web.Response:
    studio = request.app[STUDIO]
    session = studio.sessions.get(request.query.get("JSESSIONID", ""))
    if session is None:
        raise web.HTTPNotFound(text="no such player session")

    table = studio.tables.get(session.table_id or "")
    title = escape(table.name if table else "Lobby")
    currency = escape(session.currency)

    return web.Response(
        text=f"<!doctype html><title>{title}</title><h1>{title}</h1>"
        f"<p>real money, {currency}</p>",
        content_type="text/html",
    )


async def _lobby_state(request: web.Request) -> web.Response:
    studio = request.app[STUDIO]
    key = request.match_info["casino_key"]
    if key != studio.casino_key or not studio.lobby_allowed(
        request.headers.get("Authorization")
    ):
        return _json(401, {"errors": [{"code": "401", "message": "Unauthorized"}]})

    tables = {
        table.table_id: {
            "tableId": table.table_id,
            "name": table.name,
            "gameType": table.game_type,
            "gameTypeUnified": table.game_type,
            "gameVertical": table.vertical,
            "gameProvider": "evolution",
            "open": True,
            "display": "on_desktop&mobile",
        }
        for table in studio.tables.values()
    }

    return _json(200, {"tables": tables})


def _check_player(player: Mapping[str, Any]) -> None:
    if not _text(player.get("id")):
        raise StudioRefusal(400, "V.41", "player.id is missing")
    if len(player["id"]) > 50:
        raise StudioRefusal(400, "V.41", "player.id is longer than 50 characters")
    if type(player.get("update")) is not bool:
        raise StudioRefusal(400, "V.1", "player.update accepts only true/false")
    for field, missing, long in (
        ("firstName", "V.35", "V.3"),
        ("lastName", "V.36", "V.5"),
    ):
        if not _text(player.get(field)):
            raise StudioRefusal(400, missing, f"player.{field} is missing")
        if len(player[field]) > 50:
            raise StudioRefusal(400, long, f"{field} is longer than 50 characters")
    _check_code(player, "country", _COUNTRY, ("V.11", "V.31"))
    _check_code(player, "language", _LANGUAGE, ("V.13", "V.13"))
    _check_code(player, "currency", _CURRENCY, ("V.12", "V.32"))


def _check_code(
    player: Mapping[str, Any],
    field: str,
    pattern: re.Pattern[str],
    codes: tuple[str, str],
) -> None:
    value = player.get(field)
    if not _text(value):
        raise StudioRefusal(400, codes[0], f"player.{field} is missing")
    if not pattern.fullmatch(value):
        raise StudioRefusal(400, codes[1], f"player.{field} {value[:16]} is not valid")


def _session_ip(session: Mapping[str, Any]) -> str | None:
    if not _text(session.get("id")):
        raise StudioRefusal(400, "V.10", "player.session.id is empty or missing")
    if len(session["id"]) > 250:
        raise StudioRefusal(400, "V.10", "player.session.id is too long")

    # Evolution requires the player's IP; the simulator lets a casino that
    # does not know it launch anyway, and checks it when it is there.
    ip = session.get("ip")
    if ip is None:
        return None
    try:
        ipaddress.ip_address(ip)
    except (TypeError, ValueError):
        raise StudioRefusal(400, "V.9", "player.session.ip is not correct") from None

    return str(ip)


def _urls(value: object) -> Mapping[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise StudioRefusal(400, "V.29", "config.urls must be an object")
    for name, url in value.items():
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise StudioRefusal(400, "V.29", f"config.urls.{name} is not valid")

    return dict(value)


def _document(body: bytes) -> Mapping[str, Any]:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise StudioRefusal(400, "G.0", "request body is not JSON") from None
    if not isinstance(document, dict):
        raise StudioRefusal(400, "G.0", "request body is not a JSON object")

    return document


def _object(document: Mapping[str, Any], field: str, code: str) -> Mapping[str, Any]:
    value = document.get(field)
    if not isinstance(value, dict) or not value:
        raise StudioRefusal(400, code, f"{field} is empty or missing")

    return value


def _text(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and bool(value)


def _json(status: int, document: Mapping[str, Any]) -> web.Response:
    return web.Response(
        status=status, body=orjson.dumps(document), content_type="application/json"
    )
