"""The studio's own API, simulated: launch sessions, demo sessions, game list.

It speaks the SoftSwiss casino protocol from the provider's side: every
request must carry a valid `X-REQUEST-SIGN` over its raw body, and every
answer is signed the same way. `GET /games` is the gamegate extension the
`softswiss` adapter reads its catalogue from.

For resilience tests the API can misbehave on purpose: `Studio.inject`
queues a `Fault` (hang, reset the connection, answer slowly, answer an
error status, throttle with `Retry-After`) for the next launches or game
lists, and `Studio.received` counts every request that arrived, faulted or
not, so a test can count attempts at the provider's end.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from html import escape
from typing import Any, Literal

import orjson
from aiohttp import web

from contracts.signing import hmac_sha256_hex, same_signature

SIGNATURE_HEADER = "X-REQUEST-SIGN"


@dataclass(frozen=True, slots=True)
class StudioGame:
    """One game the simulated studio offers."""

    identifier: str
    title: str
    provider: str = "example-studio"
    category: str = "slots"
    has_demo: bool = True


DEFAULT_GAMES = (
    StudioGame("example-studio:fruit-reels", "Fruit Reels"),
    StudioGame("example-studio:deep-sea", "Deep Sea"),
    StudioGame("example-studio:space-miner", "Space Miner", has_demo=False),
    StudioGame("example-studio:blackjack", "Blackjack", category="table"),
)


@dataclass(frozen=True, slots=True)
class LaunchedSession:
    """A game session the studio opened, as the casino asked for it."""

    token: str
    game: str
    demo: bool
    casino_id: str
    locale: str
    client_type: str
    user_id: str | None = None
    currency: str | None = None
    urls: Mapping[str, str] | None = None


FaultKind = Literal["hang", "reset", "slow", "status"]
Endpoint = Literal["launch", "games"]


@dataclass(frozen=True, slots=True)
class Fault:
    """One way for the studio's API to misbehave on a request.

    `hang` never answers (until the studio is released or stopped); `reset`
    reads the request and drops the connection without an answer; `slow`
    waits `seconds`, then answers as usual; `status` answers `status`, with
    `Retry-After: retry_after` when that is set.
    """

    kind: FaultKind
    status: int = 500
    seconds: float = 0.0
    retry_after: int | None = None

    @classmethod
    def hang(cls) -> Fault:
        """Never answer."""
        return cls("hang")

    @classmethod
    def reset(cls) -> Fault:
        """Drop the connection once the request has arrived."""
        return cls("reset")

    @classmethod
    def slow(cls, seconds: float) -> Fault:
        """Answer as usual, `seconds` late."""
        return cls("slow", seconds=seconds)

    @classmethod
    def error(cls, status: int = 500, retry_after: int | None = None) -> Fault:
        """Answer an error status, with `Retry-After` when given."""
        return cls("status", status=status, retry_after=retry_after)


class StudioRefusal(Exception):
    """A launch the studio refuses, with the protocol's code and HTTP status."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class Studio:
    """The simulated studio's state: its games, its key and the sessions it opened.

    Session tokens come from `random.Random(seed)`, so a run is repeatable;
    that is fine for a simulator and wrong for a real studio.
    """

    def __init__(
        self,
        auth_token: str,
        *,
        casino_id: str | None = None,
        games: Sequence[StudioGame] = DEFAULT_GAMES,
        seed: int = 0,
    ) -> None:
        self._key = auth_token.encode()
        self.casino_id = casino_id
        self.games = {game.identifier: game for game in games}
        self.sessions: dict[str, LaunchedSession] = {}
        self._random = random.Random(seed)
        self._failures: list[int] = []
        self.received: Counter[str] = Counter()
        self._faults: dict[str, list[Fault]] = {"launch": [], "games": []}
        self._standing: dict[str, Fault] = {}
        self._released = asyncio.Event()

    def fail_launches(self, status: int, times: int = 1) -> None:
        """Answer the next `times` launches with HTTP `status` and code 500."""
        self._failures.extend([status] * times)

    def inject(
        self, fault: Fault, *, times: int | None = 1, on: Endpoint = "launch"
    ) -> None:
        """Misbehave on the next `times` requests to an endpoint; None: until cleared.

        `launch` covers both real and demo launches; `games` the game list.
        """
        if times is None:
            self._standing[on] = fault
        else:
            self._faults[on].extend([fault] * times)

    def clear_faults(self) -> None:
        """Behave again from now on, and let every hanging request end."""
        self._faults = {"launch": [], "games": []}
        self._standing.clear()
        self.release()

    def release(self) -> None:
        """Let every hanging request end, with its connection dropped."""
        self._released.set()
        self._released = asyncio.Event()

    def next_fault(self, endpoint: Endpoint) -> Fault | None:
        """Return the fault the next request to an endpoint meets, if any."""
        if self._faults[endpoint]:
            return self._faults[endpoint].pop(0)
        return self._standing.get(endpoint)

    def session_for(self, game_url: str) -> LaunchedSession:
        """Return the session a game URL from this studio opens."""
        return self.sessions[game_url.rstrip("/").rsplit("/", 1)[-1]]

    def sign(self, body: bytes) -> str:
        """Return the `X-REQUEST-SIGN` value of a body under the casino's key."""
        return hmac_sha256_hex(self._key, body)

    def open_session(self, document: Mapping[str, Any], demo: bool) -> LaunchedSession:
        """Check a launch request and record the session it opens."""
        if self._failures:
            raise StudioRefusal(self._failures.pop(0), 500, "Unknown error")

        casino_id = _text(document, "casino_id")
        if self.casino_id is not None and casino_id != self.casino_id:
            raise StudioRefusal(400, 400, "unknown casino_id")
        game = self.games.get(_text(document, "game"))
        if game is None or (demo and not game.has_demo):
            raise StudioRefusal(400, 405, "game is not available to this casino")
        client_type = _text(document, "client_type")
        if client_type not in ("desktop", "mobile"):
            raise StudioRefusal(400, 400, "client_type must be desktop or mobile")

        user_id = currency = None
        if not demo:
            currency = _text(document, "currency")
            user = document.get("user")
            user_id = _text(user, "id") if isinstance(user, dict) else None
            if user_id is None:
                raise StudioRefusal(400, 400, "user.id is required")

        session = LaunchedSession(
            token=f"{self._random.getrandbits(96):024x}",
            game=game.identifier,
            demo=demo,
            casino_id=casino_id,
            locale=_text(document, "locale"),
            client_type=client_type,
            user_id=user_id,
            currency=currency,
            urls=_urls(document.get("urls")),
        )
        self.sessions[session.token] = session

        return session

    @asynccontextmanager
    async def serve(self, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
        """Serve the studio's API over HTTP and yield its base URL."""
        runner = web.AppRunner(create_app(self), shutdown_timeout=5.0)
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port)
            await site.start()
            bound_port = runner.addresses[0][1]
            shown = f"[{host}]" if ":" in host else host
            yield f"http://{shown}:{bound_port}"
        finally:
            self.clear_faults()
            await runner.cleanup()


def run_simulator(
    auth_token: str,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    casino_id: str | None = None,
    games: Sequence[StudioGame] = DEFAULT_GAMES,
    seed: int = 0,
) -> AbstractAsyncContextManager[str]:
    """Start a fresh studio on `host:port` (0 picks a free port); yield its URL.

    Use as `async with run_simulator(token) as base_url:`. To look at the
    sessions it opened, build a `Studio` and use `async with studio.serve()`.
    """
    studio = Studio(auth_token, casino_id=casino_id, games=games, seed=seed)

    return studio.serve(host, port)


STUDIO = web.AppKey("studio", Studio)


def create_app(studio: Studio) -> web.Application:
    """Build the aiohttp application that answers the studio's API."""
    app = web.Application()
    app[STUDIO] = studio
    app.router.add_post("/sessions", _real_launch)
    app.router.add_post("/demo", _demo_launch)
    app.router.add_get("/games", _games)
    app.router.add_get("/play/{token}", _game_page)

    return app


async def _real_launch(request: web.Request) -> web.Response:
    return await _launch(request, demo=False)


async def _demo_launch(request: web.Request) -> web.Response:
    return await _launch(request, demo=True)


async def _launch(request: web.Request, demo: bool) -> web.Response:
    studio = request.app[STUDIO]
    studio.received["demo" if demo else "sessions"] += 1
    body = await request.read()
    fault = studio.next_fault("launch")
    if fault is not None and (answer := await _misbehave(studio, request, fault)):
        return answer
    if not same_signature(studio.sign(body), request.headers.get(SIGNATURE_HEADER)):
        return _answer(studio, 403, {"code": 403, "message": "Request sign mismatch"})

    try:
        document = orjson.loads(body)
        if not isinstance(document, dict):
            raise StudioRefusal(400, 400, "body must be a JSON object")
        session = studio.open_session(document, demo)
    except orjson.JSONDecodeError:
        return _answer(studio, 400, {"code": 400, "message": "Bad request"})
    except StudioRefusal as refusal:
        return _answer(
            studio, refusal.status, {"code": refusal.code, "message": refusal.message}
        )

    game_url = f"{request.scheme}://{request.host}/play/{session.token}"

    return _answer(
        studio, 200, {"launch_options": {"game_url": game_url, "strategy": "iframe"}}
    )


async def _games(request: web.Request) -> web.Response:
    studio = request.app[STUDIO]
    studio.received["games"] += 1
    body = await request.read()
    fault = studio.next_fault("games")
    if fault is not None and (answer := await _misbehave(studio, request, fault)):
        return answer
    if not same_signature(studio.sign(body), request.headers.get(SIGNATURE_HEADER)):
        return _answer(studio, 403, {"code": 403, "message": "Request sign mismatch"})

    games = [
        {
            "identifier": game.identifier,
            "title": game.title,
            "provider": game.provider,
            "category": game.category,
            "has_demo": game.has_demo,
        }
        for game in studio.games.values()
    ]

    return _answer(studio, 200, {"games": games})


async def _game_page(request: web.Request) -> web.Response:
    studio = request.app[STUDIO]
    session = studio.sessions.get(request.match_info["token"])
    if session is None:
        raise web.HTTPNotFound(text="no such game session")

    title = escape(studio.games[session.game].title)
    mode = "demo" if session.demo else f"real money, {escape(session.currency or '')}"

    return web.Response(
        text=f"<!doctype html><title>{title}</title><h1>{title}</h1><p>{mode}</p>",
        content_type="text/html",
    )


async def _misbehave(
    studio: Studio, request: web.Request, fault: Fault
) -> web.Response | None:
    """Act out a fault; return the answer to send, or None to answer as usual."""
    if fault.kind == "slow":
        await asyncio.sleep(fault.seconds)
        return None
    if fault.kind == "status":
        headers = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = str(fault.retry_after)
        answer = _answer(
            studio, fault.status, {"code": 500, "message": "Unknown error"}
        )
        answer.headers.update(headers)
        return answer

    if fault.kind == "hang":
        await studio._released.wait()
    if request.transport is not None:
        request.transport.abort()

    # Nothing can be written on an aborted connection; aiohttp drops this.
    return web.Response(status=500)


def _answer(studio: Studio, status: int, document: Mapping[str, Any]) -> web.Response:
    body = orjson.dumps(document)

    return web.Response(
        status=status,
        body=body,
        content_type="application/json",
        headers={SIGNATURE_HEADER: studio.sign(body)},
    )


def _text(document: Mapping[str, Any], field: str) -> str:
    value = document.get(field)
    if not isinstance(value, str) or not value:
        raise StudioRefusal(400, 400, f"{field} must be a non-empty string")

    return value


def _urls(value: object) -> Mapping[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not all(
        isinstance(url, str) for url in value.values()
    ):
        raise StudioRefusal(400, 400, "urls must map names to strings")

    return dict(value)
