"""The benchmark's reference servers: the ceiling and its trivial upstream.

The ceiling is the least a wallet callback can cost in this stack: a bare
aiohttp handler that parses a small JSON body, writes one SQLite row with
the PRAGMAs the gateway's own database uses, and makes one outbound HTTP
call to a trivial upstream, and nothing else. The upstream answers `{}` to
any POST. Each runs as a process of its own:

    python -m gateway.bench.servers upstream --port 9301
    python -m gateway.bench.servers ceiling --port 9300 --db ceiling.db \\
        --upstream http://127.0.0.1:9301/
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator, Callable

import aiohttp
import click
import orjson
from aiohttp import web

CEILING_ANSWER = b'{"ok":true}'
UPSTREAM_ANSWER = b"{}"
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS writes ("
    " id INTEGER PRIMARY KEY, action_id TEXT NOT NULL, written_at REAL NOT NULL)"
)

DATABASE = web.AppKey("database", sqlite3.Connection)
CLIENT = web.AppKey("client", aiohttp.ClientSession)
UPSTREAM_URL = web.AppKey("upstream_url", str)


def open_database(path: str) -> sqlite3.Connection:
    """Open a SQLite file with the gateway's own settings (WAL, NORMAL, FKs)."""
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute("PRAGMA foreign_keys=ON")
    connection.execute(_SCHEMA)

    return connection


def ceiling_app(db_path: str, upstream_url: str) -> web.Application:
    """Build the ceiling: parse JSON, write one row, call the upstream, answer."""
    app = web.Application()
    app[UPSTREAM_URL] = upstream_url
    app.router.add_post("/{path:.*}", _ceiling)
    app.cleanup_ctx.append(_resources(db_path))

    return app


def _resources(
    db_path: str,
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def context(app: web.Application) -> AsyncIterator[None]:
        app[DATABASE] = open_database(db_path)
        # The same pool shape as the gateway's client for the casino's wallet.
        connector = aiohttp.TCPConnector(limit=100, keepalive_timeout=30.0)
        app[CLIENT] = aiohttp.ClientSession(connector=connector)
        yield
        await app[CLIENT].close()
        app[DATABASE].close()

    return context


async def _ceiling(request: web.Request) -> web.Response:
    document = orjson.loads(await request.read())
    action_id = str(document.get("action_id", "")) if type(document) is dict else ""

    request.app[DATABASE].execute(
        "INSERT INTO writes (action_id, written_at) VALUES (?, ?)",
        (action_id, time.time()),
    )
    async with request.app[CLIENT].post(
        request.app[UPSTREAM_URL], data=UPSTREAM_ANSWER
    ) as answer:
        await answer.read()

    return web.Response(body=CEILING_ANSWER, content_type="application/json")


def upstream_app() -> web.Application:
    """Build the trivial upstream: `{}` to any POST."""
    app = web.Application()
    app.router.add_post("/{path:.*}", _upstream)

    return app


async def _upstream(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(body=UPSTREAM_ANSWER, content_type="application/json")


@click.group()
def main() -> None:
    """The benchmark's reference servers."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, required=True)
@click.option("--db", "db_path", required=True, help="The SQLite file to write to.")
@click.option("--upstream", "upstream_url", required=True, help="The upstream URL.")
def ceiling(host: str, port: int, db_path: str, upstream_url: str) -> None:
    """Serve the ceiling until interrupted."""
    web.run_app(
        ceiling_app(db_path, upstream_url),
        host=host,
        port=port,
        access_log=None,
        print=None,
    )


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, required=True)
def upstream(host: str, port: int) -> None:
    """Serve the trivial upstream until interrupted."""
    web.run_app(upstream_app(), host=host, port=port, access_log=None, print=None)


if __name__ == "__main__":
    main()
