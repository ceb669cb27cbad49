"""Hub88's Operator API, simulated: game URLs, the game list and free-bet rewards.

It answers below `/operator/generic/v2/` as Hub88 does: every request must
carry an `X-Hub88-Signature` by the operator's private key over its raw body;
refusals are HTTP errors with `{"error": ...}`. The simulator makes its own
RSA key pair at start, so no key is kept anywhere; its public key is what the
operator configures as `hub88_public_key`, and `Hub88Client` signs the wallet
callbacks with its private key.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from html import escape
from types import TracebackType
from typing import Any, TypeVar

import orjson
from aiohttp import web

from examples.hub88_simulator.keys import (
    SIGNATURE_HEADER,
    KeyPair,
    public_key,
    verifies,
)

API = "/operator/generic/v2"
DEMO_CURRENCY = "XXX"
PLATFORMS = frozenset({"GPL_DESKTOP", "GPL_MOBILE"})
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class SimulatedGame:
    """One game the simulated Hub88 offers, as its game list shows it."""

    game_code: str
    name: str
    product: str = "Example Studio"
    category: str = "Video Slots"
    demo_game_support: bool = True
    freebet_support: bool = True
    enabled: bool = True

    def listed(self) -> dict[str, Any]:
        """Return the game as an entry of `game/list`."""
        return {
            "game_code": self.game_code,
            "name": self.name,
            "product": self.product,
            "category": self.category,
            "demo_game_support": self.demo_game_support,
            "freebet_support": self.freebet_support,
            "enabled": self.enabled,
            "platforms": sorted(PLATFORMS),
            "blocked_countries": [],
        }


DEFAULT_GAMES = (
    SimulatedGame("sim_fruitreels", "Fruit Reels"),
    SimulatedGame("sim_deepsea", "Deep Sea"),
    SimulatedGame(
        "sim_blackjack",
        "Blackjack",
        category="Table Games",
        demo_game_support=False,
        freebet_support=False,
    ),
    SimulatedGame("sim_retired", "Retired Reels", enabled=False),
)


@dataclass(frozen=True, slots=True)
class LaunchedGame:
    """A game URL the simulator handed out, and what the operator asked for."""

    id: str
    game_code: str
    demo: bool
    currency: str
    platform: str
    lang: str
    country: str
    user: str | None = None
    token: str | None = None
    lobby_url: str | None = None
    deposit_url: str | None = None


class Refusal(Exception):
    """A request the simulated Hub88 refuses, with its HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Hub88Simulator:
    """The simulated Hub88: its key pair, games, and what operators asked of it.

    `operator_public_key` verifies the operator's requests; `operator_id`, when
    given, is the only operator it serves. Launch ids count up from 1, so a
    run is repeatable.
    """

    operator_public_key: str
    operator_id: int | None = None
    games: Sequence[SimulatedGame] = DEFAULT_GAMES
    keys: KeyPair = field(default_factory=KeyPair.generate)
    launched: dict[str, LaunchedGame] = field(default_factory=dict, init=False)
    rewards: list[dict[str, Any]] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self._failures: list[int] = []
        self._ids = itertools.count(1)
        self._operator_key = public_key(self.operator_public_key)
        self._games = {game.game_code: game for game in self.games}

    @property
    def public_pem(self) -> str:
        """Hub88's public key, for the operator's `hub88_public_key`."""
        return self.keys.public_pem

    def fail_launches(self, status: int, times: int = 1) -> None:
        """Answer the next `times` game URL requests with HTTP `status`."""
        self._failures.extend([status] * times)

    def launch_for(self, game_url: str) -> LaunchedGame:
        """Return what a game URL from this simulator was launched with."""
        return self.launched[game_url.rstrip("/").rsplit("/", 1)[-1]]

    def verified(self, body: bytes, signature: str | None) -> bool:
        """Return whether the operator signed `body`."""
        return verifies(self._operator_key, body, signature)

    def game_url(self, document: Mapping[str, Any]) -> LaunchedGame:
        """Check a game URL request and record the launch it opens."""
        if self._failures:
            raise Refusal(self._failures.pop(0), "internal server error")
        self._check_operator(document)
        game = self._game(document)
        platform = _text(document, "platform")
        if platform not in PLATFORMS:
            raise Refusal(400, "platform must be GPL_DESKTOP or GPL_MOBILE")
        currency = _text(document, "currency")

        demo = currency == DEMO_CURRENCY
        user = token = None
        if demo and not game.demo_game_support:
            raise Refusal(403, "the game has no demo")
        if not demo:
            user = _text(document, "user")
            token = _text(document, "token")
            if len(user) < 3 or not 10 <= len(token) <= 255:
                raise Refusal(400, "user or token has the wrong length")

        launched = LaunchedGame(
            id=str(next(self._ids)),
            game_code=game.game_code,
            demo=demo,
            currency=currency,
            platform=platform,
            lang=_text(document, "lang"),
            country=_text(document, "country"),
            user=user,
            token=token,
            lobby_url=_optional_text(document, "lobby_url"),
            deposit_url=_optional_text(document, "deposit_url"),
        )
        self.launched[launched.id] = launched

        return launched

    def game_list(self, document: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Return the game list for the operator that asked."""
        self._check_operator(document)

        return [game.listed() for game in self.games]

    def create_reward(self, document: Mapping[str, Any]) -> dict[str, Any]:
        """Check a reward request and record the reward it grants."""
        self._check_operator(document)
        game = self._game(document)
        if not game.freebet_support:
            raise Refusal(403, "the game has no free bets")
        reward = {
            "reward_uuid": str(uuid.uuid4()),
            "status": "FRS_NEW",
            "user": _text(document, "user"),
            "currency": _text(document, "currency"),
            "game_code": game.game_code,
            "prepaid_uuid": _text(document, "prepaid_uuid"),
            "bet_count": document.get("bet_count"),
            "bet_value": document.get("bet_value"),
        }
        self.rewards.append(reward)

        return reward

    @asynccontextmanager
    async def serve(self, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
        """Serve the simulated API over HTTP and yield its base URL."""
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

    def _check_operator(self, document: Mapping[str, Any]) -> None:
        operator_id = document.get("operator_id")
        if type(operator_id) is not int:
            raise Refusal(400, "operator_id must be an integer")
        if self.operator_id is not None and operator_id != self.operator_id:
            raise Refusal(404, "operator not found")

    def _game(self, document: Mapping[str, Any]) -> SimulatedGame:
        game = self._games.get(_text(document, "game_code"))
        if game is None or not game.enabled:
            raise Refusal(404, "game not found")

        return game


class SimulatorRun(AbstractAsyncContextManager[str]):
    """A simulator to serve: entering it yields its base URL.

    The keys and the records are on the object, before and after entering:
    `public_pem` is the operator's `hub88_public_key`, `private_pem` what a
    `Hub88Client` signs callbacks with, `simulator` what was launched.
    """

    def __init__(self, simulator: Hub88Simulator, host: str, port: int) -> None:
        self.simulator = simulator
        self.base_url = ""
        self._serving = simulator.serve(host, port)

    @property
    def public_pem(self) -> str:
        """Hub88's public key, for the operator's `hub88_public_key`."""
        return self.simulator.keys.public_pem

    @property
    def private_pem(self) -> str:
        """Hub88's private key, for a `Hub88Client` that signs callbacks."""
        return self.simulator.keys.private_pem

    async def __aenter__(self) -> str:
        self.base_url = await self._serving.__aenter__()
        return self.base_url

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> bool | None:
        return await self._serving.__aexit__(kind, error, trace)


def run_simulator(
    operator_public_key: str,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    operator_id: int | None = None,
    games: Sequence[SimulatedGame] = DEFAULT_GAMES,
    keys: KeyPair | None = None,
) -> SimulatorRun:
    """Start a fresh simulator on `host:port` (0 picks a free port).

    Use as `async with run_simulator(operator_pem) as base_url:`; the object
    returned also shows the keys (`run.public_pem`) and the records. `keys`
    reuses a key pair (tests make one per session) instead of a new one.
    """
    simulator = Hub88Simulator(
        operator_public_key,
        operator_id=operator_id,
        games=games,
        keys=keys or KeyPair.generate(),
    )

    return SimulatorRun(simulator, host, port)


SIMULATOR = web.AppKey("simulator", Hub88Simulator)


def create_app(simulator: Hub88Simulator) -> web.Application:
    """Build the aiohttp application that answers the simulated API."""
    app = web.Application()
    app[SIMULATOR] = simulator
    app.router.add_post(f"{API}/game/url", _game_url)
    app.router.add_post(f"{API}/game/list", _game_list)
    app.router.add_post(f"{API}/freebet/rewards/create", _create_reward)
    app.router.add_get("/games/{id}", _game_page)

    return app


async def _game_url(request: web.Request) -> web.Response:
    launched = await _handle(request, request.app[SIMULATOR].game_url)
    if isinstance(launched, web.Response):
        return launched
    url = f"{request.scheme}://{request.host}/games/{launched.id}"

    return web.json_response({"url": url})


async def _game_list(request: web.Request) -> web.Response:
    games = await _handle(request, request.app[SIMULATOR].game_list)
    if isinstance(games, web.Response):
        return games

    return web.json_response(games)


async def _create_reward(request: web.Request) -> web.Response:
    reward = await _handle(request, request.app[SIMULATOR].create_reward)
    if isinstance(reward, web.Response):
        return reward

    return web.json_response(reward)


async def _handle(
    request: web.Request, action: Callable[[Mapping[str, Any]], T]
) -> T | web.Response:
    simulator = request.app[SIMULATOR]
    body = await request.read()
    if not simulator.verified(body, request.headers.get(SIGNATURE_HEADER)):
        return _error(401, "invalid signature")

    try:
        document = orjson.loads(body)
        if not isinstance(document, dict):
            raise Refusal(400, "body must be a JSON object")
        return action(document)
    except orjson.JSONDecodeError:
        return _error(400, "body is not valid JSON")
    except Refusal as refusal:
        return _error(refusal.status, refusal.message)


async def _game_page(request: web.Request) -> web.Response:
    simulator = request.app[SIMULATOR]
    launched = simulator.launched.get(request.match_info["id"])
    if launched is None:
        raise web.HTTPNotFound(text="no such game")

    title = escape(launched.game_code)
    mode = "demo" if launched.demo else f"real money, {escape(launched.currency)}"

    return web.Response(
        text=f"<!doctype html><title>{title}</title><h1>{title}</h1><p>{mode}</p>",
        content_type="text/html",
    )


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _text(document: Mapping[str, Any], field: str) -> str:
    value = document.get(field)
    if not isinstance(value, str) or not value:
        raise Refusal(400, f"{field} must be a non-empty string")

    return value


def _optional_text(document: Mapping[str, Any], field: str) -> str | None:
    if document.get(field) is None:
        return None

    return _text(document, field)
