"""Pragmatic Play's integration API, simulated: game URLs, the game list, free rounds.

It answers what the `pragmatic` adapter calls, under the real API's prefix
`/IntegrationService/v3/http`: `CasinoGameAPI/game/url/`,
`CasinoGameAPI/getCasinoGames/`, `FreeRoundsBonusAPI/createFRB/` and
`FreeRoundsBonusAPI/cancelFRB/`. Every request is a form whose `hash` must
verify under the secret key; answers are JSON with a string `error` ("0" for
success) and a `description`, as the real API answers. Its refusal codes are
the simulator's own ("5" hash, "7" parameters, "8" game), since the public
descriptions do not list the API's.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from html import escape
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import orjson
from aiohttp import web

from examples.pragmatic_simulator.signing import verify

PREFIX = "/IntegrationService/v3/http"
GAME_PAGE = "/gs2c/openGame.do"


@dataclass(frozen=True, slots=True)
class SimulatedGame:
    """One game the simulated casino account offers."""

    symbol: str
    name: str
    type_id: str = "vs"
    type_description: str = "Video Slots"
    demo: bool = True
    free_rounds: bool = True


DEFAULT_GAMES = (
    SimulatedGame("vs20fruitreels", "Fruit Reels"),
    SimulatedGame("vs25deepsea", "Deep Sea"),
    SimulatedGame("vs10spaceminer", "Space Miner", demo=False, free_rounds=False),
    SimulatedGame("bjsimtable", "Blackjack", "bj", "Blackjack", free_rounds=False),
)


@dataclass(frozen=True, slots=True)
class LaunchedSession:
    """A game session the simulator opened, as the casino asked for it."""

    ticket: str
    game: str
    demo: bool
    language: str
    platform: str | None = None
    currency: str | None = None
    token: str | None = None
    external_player_id: str | None = None
    country: str | None = None
    lobby_url: str | None = None
    cashier_url: str | None = None


@dataclass(frozen=True, slots=True)
class FreeRoundsBonus:
    """Free rounds the casino gave a player under one bonus code."""

    bonus_code: str
    player_id: str
    currency: str
    games: tuple[str, ...]
    rounds: int
    expires_at: int
    starts_at: int | None = None


class Refusal(Exception):
    """A request the simulator refuses, with its error code and description."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


class PragmaticSimulator:
    """The simulated API's state: its games, its key, sessions and free rounds.

    Tickets come from `random.Random(seed)`, so a run is repeatable; that is
    fine for a simulator and wrong for a real game server.
    """

    def __init__(
        self,
        secret_key: str,
        *,
        secure_login: str | None = None,
        games: Sequence[SimulatedGame] = DEFAULT_GAMES,
        seed: int = 0,
    ) -> None:
        self._secret = secret_key
        self.secure_login = secure_login
        self.games = {game.symbol: game for game in games}
        self.sessions: dict[str, LaunchedSession] = {}
        self.bonuses: dict[str, FreeRoundsBonus] = {}
        self.calls: list[tuple[str, dict[str, str]]] = []
        self._random = random.Random(seed)
        self._failures: list[int] = []

    def fail_calls(self, status: int, times: int = 1) -> None:
        """Answer the next `times` calls with HTTP `status` and no JSON."""
        self._failures.extend([status] * times)

    def session_for(self, game_url: str) -> LaunchedSession:
        """Return the session a game URL from this simulator opens."""
        ticket = parse_qs(urlsplit(game_url).query)["tc"][0]

        return self.sessions[ticket]

    def check(self, pairs: list[tuple[str, str]]) -> dict[str, str]:
        """Verify a request's hash and account; return its parameters."""
        if not verify(pairs, self._secret):
            raise Refusal("5", "Invalid hash")
        params = dict(pairs)
        login = params.get("secureLogin")
        if not login or (self.secure_login is not None and login != self.secure_login):
            raise Refusal("7", "Unknown secureLogin")

        return params

    def open_session(self, params: Mapping[str, str], base: str) -> str:
        """Check a game URL request, record its session and return the game URL."""
        demo = params.get("playMode", "REAL") == "DEMO"
        game = self.games.get(params.get("symbol", ""))
        if game is None or (demo and not game.demo):
            raise Refusal("8", "Game not found or not offered in this mode")
        if not params.get("language"):
            raise Refusal("7", "language is required")
        if not demo and not all(
            params.get(field) for field in ("token", "externalPlayerId", "currency")
        ):
            raise Refusal("7", "token, externalPlayerId and currency are required")

        session = LaunchedSession(
            ticket=f"{self._random.getrandbits(96):024x}",
            game=game.symbol,
            demo=demo,
            language=params["language"],
            platform=params.get("platform"),
            currency=params.get("currency"),
            token=None if demo else params["token"],
            external_player_id=None if demo else params["externalPlayerId"],
            country=params.get("country"),
            lobby_url=params.get("lobbyUrl"),
            cashier_url=params.get("cashierUrl"),
        )
        self.sessions[session.ticket] = session
        query = urlencode({"tc": session.ticket, "stylename": params["secureLogin"]})

        return f"{base}{GAME_PAGE}?{query}"

    def game_list(self) -> list[dict[str, Any]]:
        """Return the games as `getCasinoGames` lists them."""
        return [
            {
                "gameID": game.symbol,
                "gameName": game.name,
                "gameTypeID": game.type_id,
                "typeDescription": game.type_description,
                "technology": "html5",
                "platform": "MOBILE,WEB",
                "demoGameAvailable": game.demo,
                "frbAvailable": game.free_rounds,
            }
            for game in self.games.values()
        ]

    def create_free_rounds(self, params: Mapping[str, str]) -> None:
        """Record free rounds; the same bonus code again must say the same."""
        try:
            bonus = FreeRoundsBonus(
                bonus_code=_required(params, "bonusCode"),
                player_id=_required(params, "playerId"),
                currency=_required(params, "currency"),
                games=tuple(_required(params, "gameIDList").split(",")),
                rounds=int(_required(params, "rounds")),
                expires_at=int(_required(params, "expirationDate")),
                starts_at=int(params["startDate"]) if "startDate" in params else None,
            )
        except ValueError as error:
            raise Refusal("7", f"bad number: {error}") from None
        unknown = [game for game in bonus.games if game not in self.games]
        if unknown or bonus.rounds < 1:
            raise Refusal("7", "unknown game or no rounds")
        known = self.bonuses.get(bonus.bonus_code)
        if known is not None and known != bonus:
            raise Refusal("7", "bonusCode already used for other free rounds")

        self.bonuses[bonus.bonus_code] = bonus

    def cancel_free_rounds(self, params: Mapping[str, str]) -> None:
        """Withdraw the free rounds of a bonus code."""
        if self.bonuses.pop(_required(params, "bonusCode"), None) is None:
            raise Refusal("7", "no free rounds under that bonusCode")

    def next_failure(self) -> int | None:
        """Return the HTTP status of the next injected failure, if one is due."""
        return self._failures.pop(0) if self._failures else None

    @asynccontextmanager
    async def serve(self, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
        """Serve the API over HTTP and yield its base URL, prefix included."""
        runner = web.AppRunner(create_app(self))
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port)
            await site.start()
            bound_port = runner.addresses[0][1]
            shown = f"[{host}]" if ":" in host else host
            yield f"http://{shown}:{bound_port}{PREFIX}"
        finally:
            await runner.cleanup()


def run_simulator(
    secret_key: str,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    secure_login: str | None = None,
    games: Sequence[SimulatedGame] = DEFAULT_GAMES,
    seed: int = 0,
) -> AbstractAsyncContextManager[str]:
    """Start a fresh simulator on `host:port` (0 picks a free port); yield its URL.

    Use as `async with run_simulator(secret) as base_url:`; the URL is the
    adapter's `base_url`. To look at what it recorded, build a
    `PragmaticSimulator` and use `async with simulator.serve()`.
    """
    simulator = PragmaticSimulator(
        secret_key, secure_login=secure_login, games=games, seed=seed
    )

    return simulator.serve(host, port)


SIMULATOR = web.AppKey("simulator", PragmaticSimulator)
ApiCall = Callable[[PragmaticSimulator, dict[str, str], str], dict[str, Any]]


def create_app(simulator: PragmaticSimulator) -> web.Application:
    """Build the aiohttp application that answers the simulated API."""
    app = web.Application()
    app[SIMULATOR] = simulator
    for path, call in OPERATIONS.items():
        handler = _handler(call)
        app.router.add_post(f"{PREFIX}/{path}", handler)
        app.router.add_post(f"{PREFIX}/{path.rstrip('/')}", handler)
    app.router.add_get(GAME_PAGE, _game_page)

    return app


def _game_url(
    simulator: PragmaticSimulator, params: dict[str, str], base: str
) -> dict[str, Any]:
    return {"gameURL": simulator.open_session(params, base)}


def _game_list(
    simulator: PragmaticSimulator, params: dict[str, str], base: str
) -> dict[str, Any]:
    return {"gameList": simulator.game_list()}


def _create_free_rounds(
    simulator: PragmaticSimulator, params: dict[str, str], base: str
) -> dict[str, Any]:
    simulator.create_free_rounds(params)
    return {}


def _cancel_free_rounds(
    simulator: PragmaticSimulator, params: dict[str, str], base: str
) -> dict[str, Any]:
    simulator.cancel_free_rounds(params)
    return {}


OPERATIONS: Mapping[str, ApiCall] = {
    "CasinoGameAPI/game/url/": _game_url,
    "CasinoGameAPI/getCasinoGames/": _game_list,
    "FreeRoundsBonusAPI/createFRB/": _create_free_rounds,
    "FreeRoundsBonusAPI/cancelFRB/": _cancel_free_rounds,
}


def _handler(
    call: ApiCall,
) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(request: web.Request) -> web.Response:
        simulator = request.app[SIMULATOR]
        failure = simulator.next_failure()
        if failure is not None:
            return web.Response(status=failure, text="simulated failure")

        form = await request.post()
        pairs = [(key, value) for key, value in form.items() if isinstance(value, str)]
        try:
            params = simulator.check(pairs)
            simulator.calls.append((request.path, params))
            answer = call(simulator, params, f"{request.scheme}://{request.host}")
        except Refusal as refusal:
            return _json({"error": refusal.error, "description": refusal.description})

        return _json({"error": "0", "description": "OK", **answer})

    return handle


async def _game_page(request: web.Request) -> web.Response:
    simulator = request.app[SIMULATOR]
    session = simulator.sessions.get(request.query.get("tc", ""))
    if session is None:
        raise web.HTTPNotFound(text="no such game session")

    name = escape(simulator.games[session.game].name)
    mode = "demo" if session.demo else f"real money, {escape(session.currency or '')}"

    return web.Response(
        text=f"<!doctype html><title>{name}</title><h1>{name}</h1><p>{mode}</p>",
        content_type="text/html",
    )


def _json(document: Mapping[str, Any]) -> web.Response:
    return web.Response(body=orjson.dumps(document), content_type="application/json")


def _required(params: Mapping[str, str], field: str) -> str:
    value = params.get(field)
    if not value:
        raise Refusal("7", f"{field} is required")

    return value
