"""The admin API: provider health, the routing table, explain, reload, version.

It is off unless the config names `admin.api_keys`; while off, every
`/admin/` route answers 404. Keys are read from `Authorization: Bearer` or
`X-Admin-Key`, never from a cookie, and operator keys do not open it. A
state-changing call (`POST /admin/reload`) is also refused when it carries
an `Origin` other than the gateway's own host, so a browser page elsewhere
cannot make an administrator's browser call it. No answer carries a secret.
"""

from __future__ import annotations

import hmac
from typing import Any
from urllib.parse import urlsplit

import orjson
from aiohttp import web

from contracts.errors import ConfigError
from gateway.reload import RUNTIME, Snapshot
from gateway.routing import RouteQuery, explain


class AdminError(Exception):
    """An admin request refused with an HTTP status and a stable code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def add_admin_routes(app: web.Application) -> None:
    """Register the admin API's routes on the gateway's application."""
    app.router.add_get("/admin/providers", providers)
    app.router.add_get("/admin/routes", routes)
    app.router.add_get("/admin/routes/explain", explain_route)
    app.router.add_get("/admin/config", config_version)
    app.router.add_post("/admin/reload", reload)


async def providers(request: web.Request) -> web.Response:
    """Answer each provider instance's health, breaker state and load."""
    try:
        snapshot = _admitted(request)
    except AdminError as error:
        return _error(error)

    return _json(
        200,
        {
            "providers": {
                name: provider.status()
                for name, provider in sorted(snapshot.providers.items())
            }
        },
    )


async def routes(request: web.Request) -> web.Response:
    """Answer the routing table in force and the games table it reads."""
    try:
        snapshot = _admitted(request)
    except AdminError as error:
        return _error(error)

    return _json(
        200,
        {
            "rules": snapshot.router.table(),
            "games": {
                game: info.model_dump(exclude_none=True)
                for game, info in snapshot.config.games.items()
            },
            "config_version": snapshot.version.hash,
        },
    )


async def explain_route(request: web.Request) -> web.Response:
    """Answer which instance would serve a launch, and why, with live health."""
    try:
        snapshot = _admitted(request)
        query = _query(request)
    except AdminError as error:
        return _error(error)

    return _json(200, explain(snapshot.router.route(query, snapshot.health)))


async def config_version(request: web.Request) -> web.Response:
    """Answer which configuration is in force: its file's hash and load time."""
    try:
        snapshot = _admitted(request)
    except AdminError as error:
        return _error(error)

    return _json(200, {"version": snapshot.version.document()})


async def reload(request: web.Request) -> web.Response:
    """Reload the config file; a refused file leaves the running one in force."""
    runtime = request.app[RUNTIME]
    try:
        _admitted(request, changes_state=True)
        try:
            snapshot = await runtime.reload()
        except ConfigError as error:
            raise AdminError(422, "config_error", error.message) from None
    except AdminError as error:
        return _error(error)

    return _json(200, {"reloaded": True, "version": snapshot.version.document()})


def _admitted(request: web.Request, *, changes_state: bool = False) -> Snapshot:
    snapshot = request.app[RUNTIME].snapshot
    admin = snapshot.config.admin
    if admin is None:
        raise AdminError(404, "not_found", "the admin API is off")

    header = request.headers.get("Authorization", "")
    key = header.removeprefix("Bearer ").strip() or request.headers.get(
        "X-Admin-Key", ""
    )
    given = key.encode()
    if not any(
        hmac.compare_digest(candidate.get_secret_value().encode(), given)
        for candidate in admin.api_keys
    ):
        raise AdminError(401, "unauthorized", "missing or unknown admin key")
    if changes_state and not _same_origin(request):
        raise AdminError(403, "cross_origin", "refused a request from another origin")

    return snapshot


def _same_origin(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    parts = urlsplit(origin)

    return origin != "null" and parts.netloc != "" and parts.netloc == request.host


def _query(request: web.Request) -> RouteQuery:
    values = request.query
    game = values.get("game")
    if not game:
        raise AdminError(400, "bad_request", "game: required")
    fields = ("operator", "player", "brand", "country", "jurisdiction", "currency")
    given: dict[str, Any] = {name: values.get(name) or None for name in fields}

    return RouteQuery(
        game=game,
        device=values.get("device") or "desktop",
        mode=values.get("mode") or "real",
        **given,
    )


def _error(error: AdminError) -> web.Response:
    return _json(
        error.status, {"error": {"code": error.code, "message": error.message}}
    )


def _json(status: int, payload: object) -> web.Response:
    return web.Response(
        status=status, body=orjson.dumps(payload), content_type="application/json"
    )
