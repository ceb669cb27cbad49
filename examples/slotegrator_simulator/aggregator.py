"""The aggregator's own API, simulated: games init, demo init and the game list.

It speaks the Slotegrator merchant API from the aggregator's side: every
request must carry `X-Merchant-Id`, a fresh `X-Timestamp`, an `X-Nonce` and
a valid `X-Sign` over its parameters (the form body, or the query of a GET).
Refusals are JSON in the shape the aggregator's framework answers with,
`{"name", "message", "code", "status"}`.
"""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from html import escape
from typing import Any

from aiohttp import web

from contracts.signing import same_signature
from examples.slotegrator_simulator.signing import (
    MERCHANT_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    parse_str,
    signature,
)

DEVICES = frozenset({"desktop", "mobile"})


@dataclass(frozen=True, slots=True)
class AggregatorGame:
    """One game the simulated aggregator lists, with the fields its list carries."""

    uuid: str
    name: str
    provider: str = "example-studio"
    type: str = "slots"
    technology: str = "html5"
    has_lobby: int = 0
    is_mobile: int = 1
    has_freespins: int = 0
    has_demo: bool = True

    def listed(self) -> dict[str, Any]:
        """Return the game as one entry of the `/games` list."""
        return {
            "uuid": self.uuid,
            "name": self.name,
            "image": f"https://static.example.test/{self.uuid}.png",
            "type": self.type,
            "provider": self.provider,
            "technology": self.technology,
            "has_lobby": self.has_lobby,
            "is_mobile": self.is_mobile,
            "has_freespins": self.has_freespins,
        }


DEFAULT_GAMES = (
    AggregatorGame("8c6a0f6b1e2d4c5a9b7e3f1d2c4b6a8e9f0a1b2c", "Fruit Reels"),
    AggregatorGame(
        "1d2c3b4a5f6e7d8c9b0a1f2e3d4c5b6a7f8e9d0c", "Deep Sea", has_freespins=1
    ),
    AggregatorGame(
        "5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d", "Space Miner", has_demo=False
    ),
    AggregatorGame(
        "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b", "Blackjack", type="blackjack"
    ),
)


@dataclass(frozen=True, slots=True)
class LaunchedSession:
    """A game session the aggregator opened, as the merchant asked for it.

    `session_id` is the merchant's own session id (the gateway's session
    token), which the aggregator sends back in every callback of the session.
    """

    token: str
    game_uuid: str
    demo: bool
    device: str
    language: str | None
    return_url: str | None
    player_id: str | None = None
    player_name: str | None = None
    currency: str | None = None
    session_id: str | None = None


class Refusal(Exception):
    """A request the aggregator refuses, with its HTTP status and message."""

    NAMES: Mapping[int, str] = {
        403: "Forbidden",
        404: "Not Found",
        422: "Data Validation Failed.",
        500: "Internal Server Error",
        503: "Service Unavailable",
    }

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def document(self) -> dict[str, Any]:
        """Return the refusal as the aggregator's JSON error body."""
        return {
            "name": self.NAMES.get(self.status, "Error"),
            "message": self.message,
            "code": 0,
            "status": self.status,
        }


class Aggregator:
    """The simulated aggregator's state: merchant, games and the sessions it opened.

    Launch tokens come from `random.Random(seed)`, so a run is repeatable;
    that is fine for a simulator and wrong for a real aggregator. `per_page`
    sets the size of a `/games` page.
    """

    def __init__(
        self,
        merchant_id: str,
        merchant_key: str,
        *,
        games: Sequence[AggregatorGame] = DEFAULT_GAMES,
        per_page: int = 50,
        seed: int = 0,
        timestamp_window_seconds: int = 30,
    ) -> None:
        self.merchant_id = merchant_id
        self._key = merchant_key
        self.games = {game.uuid: game for game in games}
        self.per_page = per_page
        self.window = timestamp_window_seconds
        self.sessions: dict[str, LaunchedSession] = {}
        self._random = random.Random(seed)
        self._failures: list[int] = []

    def fail_launches(self, status: int, times: int = 1) -> None:
        """Answer the next `times` launches with HTTP `status`."""
        self._failures.extend([status] * times)

    def session_for(self, game_url: str) -> LaunchedSession:
        """Return the session a game URL from this aggregator opens."""
        return self.sessions[game_url.rstrip("/").rsplit("/", 1)[-1]]

    def check(self, params: Mapping[str, Any], headers: Mapping[str, str]) -> None:
        """Refuse a request whose merchant, timestamp or `X-Sign` is wrong."""
        if headers.get(MERCHANT_HEADER) != self.merchant_id:
            raise Refusal(403, "Unknown merchant")
        stamp = headers.get(TIMESTAMP_HEADER, "")
        if not stamp.isdigit() or abs(time.time() - int(stamp)) > self.window:
            raise Refusal(403, "Request is expired")
        try:
            expected = signature(self._key, params, headers)
        except KeyError:
            raise Refusal(403, "Missing authentication headers") from None
        if not same_signature(expected, headers.get(SIGNATURE_HEADER)):
            raise Refusal(403, "Invalid signature")

    def open_session(self, params: Mapping[str, Any], demo: bool) -> LaunchedSession:
        """Check a games init request and record the session it opens."""
        if self._failures:
            raise Refusal(self._failures.pop(0), "Launch failed")

        game = self.games.get(_text(params, "game_uuid"))
        if game is None:
            raise Refusal(404, "Game not found")
        if demo and not game.has_demo:
            raise Refusal(422, "Demo is not available for this game")
        device = params.get("device") or "desktop"
        if device not in DEVICES:
            raise Refusal(422, "device must be desktop or mobile")

        session = LaunchedSession(
            token=f"{self._random.getrandbits(96):024x}",
            game_uuid=game.uuid,
            demo=demo,
            device=device,
            language=params.get("language") or None,
            return_url=params.get("return_url") or None,
        )
        if not demo:
            session = _real_session(session, params)
        self.sessions[session.token] = session

        return session

    def game_page(self, page: int) -> dict[str, Any]:
        """Return one page of the game list, with its pagination block."""
        games = list(self.games.values())
        pages = max(1, -(-len(games) // self.per_page))
        start = (page - 1) * self.per_page
        items = [game.listed() for game in games[start : start + self.per_page]]

        return {
            "items": items,
            "_links": {"self": {"href": f"/games?page={page}"}},
            "_meta": {
                "totalCount": len(games),
                "pageCount": pages,
                "currentPage": page,
                "perPage": self.per_page,
            },
        }

    @asynccontextmanager
    async def serve(self, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
        """Serve the aggregator's API over HTTP and yield its base URL."""
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


def run_simulator(
    merchant_id: str,
    merchant_key: str,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    games: Sequence[AggregatorGame] = DEFAULT_GAMES,
    per_page: int = 50,
    seed: int = 0,
) -> AbstractAsyncContextManager[str]:
    """Start a fresh aggregator on `host:port` (0 picks a free port); yield its URL.

    Use as `async with run_simulator(merchant_id, key) as base_url:`. To look
    at the sessions it opened, build an `Aggregator` and use
    `async with aggregator.serve()`.
    """
    aggregator = Aggregator(
        merchant_id, merchant_key, games=games, per_page=per_page, seed=seed
    )

    return aggregator.serve(host, port)


AGGREGATOR = web.AppKey("aggregator", Aggregator)


def create_app(aggregator: Aggregator) -> web.Application:
    """Build the aiohttp application that answers the aggregator's API."""
    app = web.Application()
    app[AGGREGATOR] = aggregator
    app.router.add_post("/games/init", _real_launch)
    app.router.add_post("/games/init-demo", _demo_launch)
    app.router.add_get("/games", _games)
    app.router.add_get("/play/{token}", _game_page)

    return app


async def _real_launch(request: web.Request) -> web.Response:
    return await _launch(request, demo=False)


async def _demo_launch(request: web.Request) -> web.Response:
    return await _launch(request, demo=True)


async def _launch(request: web.Request, demo: bool) -> web.Response:
    aggregator = request.app[AGGREGATOR]
    params = parse_str((await request.read()).decode("ascii", "replace"))
    try:
        aggregator.check(params, request.headers)
        session = aggregator.open_session(params, demo)
    except Refusal as refusal:
        return web.json_response(refusal.document(), status=refusal.status)

    url = f"{request.scheme}://{request.host}/play/{session.token}"

    return web.json_response({"url": url})


async def _games(request: web.Request) -> web.Response:
    aggregator = request.app[AGGREGATOR]
    params = parse_str(request.query_string)
    try:
        aggregator.check(params, request.headers)
        page = int(params.get("page") or 1)
    except Refusal as refusal:
        return web.json_response(refusal.document(), status=refusal.status)
    except ValueError:
        invalid = Refusal(422, "page must be a number")
        return web.json_response(invalid.document(), status=invalid.status)

    return web.json_response(aggregator.game_page(max(page, 1)))


async def _game_page(request: web.Request) -> web.Response:
    aggregator = request.app[AGGREGATOR]
    session = aggregator.sessions.get(request.match_info["token"])
    if session is None:
        raise web.HTTPNotFound(text="no such game session")

    title = escape(aggregator.games[session.game_uuid].name)
    mode = "demo" if session.demo else f"real money, {escape(session.currency or '')}"

    return web.Response(
        text=f"<!doctype html><title>{title}</title><h1>{title}</h1><p>{mode}</p>",
        content_type="text/html",
    )


def _real_session(
    session: LaunchedSession, params: Mapping[str, Any]
) -> LaunchedSession:
    return LaunchedSession(
        token=session.token,
        game_uuid=session.game_uuid,
        demo=False,
        device=session.device,
        language=session.language,
        return_url=session.return_url,
        player_id=_text(params, "player_id"),
        player_name=_text(params, "player_name"),
        currency=_text(params, "currency"),
        session_id=_text(params, "session_id"),
    )


def _text(params: Mapping[str, Any], field: str) -> str:
    value = params.get(field)
    if not isinstance(value, str) or not value:
        raise Refusal(422, f"{field} cannot be blank")

    return value
