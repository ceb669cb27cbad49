"""The Example provider's launch API, simulated on loopback.

It speaks the protocol from the provider's side: a launch must carry a valid
`X-Example-Signature` over its raw body, and every answer is signed the same
way. The conformance kit starts one per test with `run_simulator`; the
provider's wallet callbacks are sent by `kit.ExampleKitClient`.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from contracts.signing import hmac_sha256_hex, same_signature

SIGNATURE_HEADER = "X-Example-Signature"
GAMES = ("example:lucky-sevens", "example:night-train")
MODES = ("real", "demo")


@dataclass(frozen=True, slots=True)
class Launch:
    """A game the provider launched, as the casino asked for it."""

    id: str
    game: str
    player: str
    session: str
    currency: str
    mode: str


class Refusal(Exception):
    """A launch the provider refuses, with its code and HTTP status."""

    def __init__(self, http_status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.code = code
        self.message = message


class ExampleProvider:
    """The simulated provider: its games, its secret and the games it launched."""

    def __init__(self, secret: str, *, games: Sequence[str] = GAMES) -> None:
        self._key = secret.encode()
        self.games = frozenset(games)
        self.launches: dict[str, Launch] = {}

    def sign(self, body: bytes) -> str:
        """Return the `X-Example-Signature` of a body under the shared secret."""
        return hmac_sha256_hex(self._key, body)

    def launch(self, document: Mapping[str, Any]) -> Launch:
        """Check a launch request and record the game it opens."""
        game = _text(document, "game")
        if game not in self.games:
            raise Refusal(404, "UNKNOWN_GAME", f"no game {game[:40]!r}")
        mode = _text(document, "mode")
        if mode not in MODES:
            raise Refusal(400, "BAD_REQUEST", "mode must be real or demo")

        launch = Launch(
            id=secrets.token_hex(12),
            game=game,
            player=_text(document, "player"),
            session=_text(document, "session"),
            currency=_text(document, "currency"),
            mode=mode,
        )
        self.launches[launch.id] = launch

        return launch

    @asynccontextmanager
    async def serve(self, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
        """Serve the launch API over HTTP and yield its base URL."""
        runner = web.AppRunner(create_app(self))
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port)
            await site.start()
            yield f"http://{host}:{runner.addresses[0][1]}"
        finally:
            await runner.cleanup()


def run_simulator(
    secret: str, host: str = "127.0.0.1", port: int = 0
) -> AbstractAsyncContextManager[str]:
    """Start a fresh provider on `host:port` (0 picks a free port); yield its URL."""
    return ExampleProvider(secret).serve(host, port)


PROVIDER = web.AppKey("provider", ExampleProvider)


def create_app(provider: ExampleProvider) -> web.Application:
    """Build the aiohttp application that answers the provider's launch API."""
    app = web.Application()
    app[PROVIDER] = provider
    app.router.add_post("/launch", _launch)
    app.router.add_get("/play/{launch}", _game_page)

    return app


async def _launch(request: web.Request) -> web.Response:
    provider = request.app[PROVIDER]
    body = await request.read()
    if not same_signature(provider.sign(body), request.headers.get(SIGNATURE_HEADER)):
        return _answer(provider, 401, {"status": "BAD_SIGNATURE"})

    try:
        document = json.loads(body)
        if not isinstance(document, dict):
            raise Refusal(400, "BAD_REQUEST", "body must be a JSON object")
        launch = provider.launch(document)
    except ValueError:
        return _answer(provider, 400, {"status": "BAD_REQUEST"})
    except Refusal as refusal:
        refused = {"status": refusal.code, "message": refusal.message}
        return _answer(provider, refusal.http_status, refused)

    url = request.url.origin().with_path(f"/play/{launch.id}")

    return _answer(provider, 200, {"status": "OK", "url": str(url)})


async def _game_page(request: web.Request) -> web.Response:
    launch = request.app[PROVIDER].launches.get(request.match_info["launch"])
    if launch is None:
        raise web.HTTPNotFound()

    return web.Response(text=f"{launch.game} for {launch.player} ({launch.mode})\n")


def _answer(
    provider: ExampleProvider, status: int, document: Mapping[str, Any]
) -> web.Response:
    body = json.dumps(document, separators=(",", ":")).encode()

    return web.Response(
        status=status,
        body=body,
        content_type="application/json",
        headers={SIGNATURE_HEADER: provider.sign(body)},
    )


def _text(document: Mapping[str, Any], field: str) -> str:
    value = document.get(field)
    if not isinstance(value, str) or not value:
        raise Refusal(400, "BAD_REQUEST", f"{field} must be a non-empty string")

    return value
