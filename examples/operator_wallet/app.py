"""The reference wallet over HTTP: the signed contract, checks, faults.

It implements `docs/operator-wallet.openapi.yaml` and imports nothing from
gamegate, so a casino can copy the package whole. One middleware does what
every route shares: it checks the request's signature and timestamp, injects
the test faults, renders malformed requests as 400, and signs every answer.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from examples.operator_wallet.store import Store

TIMESTAMP_HEADER = "X-Gamegate-Timestamp"
SIGNATURE_HEADER = "X-Gamegate-Signature"
WINDOW_SECONDS = 300
MAX_BODY_BYTES = 64 * 1024
# SQLite's INTEGER is a signed 64-bit number.
MAX_AMOUNT = 2**63 - 1
CREDIT_KINDS = frozenset({"win", "bonus", "jackpot", "promo", "refund", "adjustment"})
_CURRENCY = re.compile(r"[A-Z][A-Z0-9]{1,9}")

Check = Callable[[Any], bool]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Faults:
    """Faults the wallet injects into contract calls, for tests.

    `delay_seconds` delays every answer after the call was applied, as a
    wallet that answers after the gateway's deadline does. `fail_next`
    answers that many calls with 500 without applying them. `calls` counts
    the contract calls received, refused and failed ones included.
    """

    delay_seconds: float = 0.0
    fail_next: int = 0
    calls: int = 0


@dataclass(frozen=True, slots=True)
class Wallet:
    """What the handlers share: the shared secret, the books and the faults."""

    secret: bytes
    store: Store
    faults: Faults


WALLET = web.AppKey("wallet", Wallet)


class Malformed(Exception):
    """A request the contract does not allow; answered with 400."""


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """Return the hex HMAC-SHA256 of `{timestamp}.` and the body."""
    return hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def create_app(secret: str, db_path: str) -> web.Application:
    """Build the wallet's application over the SQLite file at `db_path`."""
    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[_contract])
    app[WALLET] = Wallet(secret.encode(), Store(db_path), Faults())
    app.on_cleanup.append(_close)
    app.router.add_post("/balance", _balance)
    app.router.add_post("/debit", _debit)
    app.router.add_post("/credit", _credit)
    app.router.add_post("/rollback", _rollback)
    app.router.add_get("/transactions/{idempotency_key}", _transaction)
    app.router.add_post("/admin/players", _set_player)
    app.router.add_post("/admin/faults", _set_faults)

    return app


@asynccontextmanager
async def serve(
    app: web.Application, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[str]:
    """Serve an application on `host:port` (0 picks a free port); yield its URL."""
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_port = runner.addresses[0][1]
        shown = f"[{host}]" if ":" in host else host
        yield f"http://{shown}:{bound_port}"
    finally:
        await runner.cleanup()


def run_wallet(
    secret: str, db_path: str, host: str = "127.0.0.1", port: int = 0
) -> AbstractAsyncContextManager[str]:
    """Start a wallet over `db_path`; use as `async with run_wallet(...) as url:`."""
    return serve(create_app(secret, db_path), host, port)


BALANCE_FIELDS = {"operator": "text", "player": "text", "currency": "currency"}
DEBIT_FIELDS = {
    "idempotency_key": "text",
    **BALANCE_FIELDS,
    "amount": "amount",
    "provider": "text",
    "transaction_id": "text",
    "round_id": "optional text",
    "game": "optional text",
}
CREDIT_FIELDS = {**DEBIT_FIELDS, "kind": "kind"}
ROLLBACK_FIELDS = {
    "idempotency_key": "text",
    "original_idempotency_key": "text",
    **BALANCE_FIELDS,
    "amount": "amount",
}
PLAYER_FIELDS = {**BALANCE_FIELDS, "balance": "amount"}
FAULT_FIELDS = {"delay_seconds": "seconds", "fail_next": "count"}

CHECKS: dict[str, Check] = {
    "text": lambda value: isinstance(value, str) and 0 < len(value) <= 256,
    "optional text": lambda value: value is None or CHECKS["text"](value),
    "currency": lambda value: (
        isinstance(value, str) and bool(_CURRENCY.fullmatch(value))
    ),
    # `type() is int` refuses booleans and floats such as 1.0: minor units are
    # whole numbers, and a float would have been rounded somewhere already.
    "amount": lambda value: type(value) is int and 0 <= value <= MAX_AMOUNT,
    "kind": lambda value: value in CREDIT_KINDS,
    "flag": lambda value: isinstance(value, bool),
    "seconds": lambda value: type(value) in (int, float) and 0 <= value <= 600,
    "count": lambda value: type(value) is int and 0 <= value <= 1000,
}


@web.middleware
async def _contract(request: web.Request, handler: Handler) -> web.StreamResponse:
    wallet = request.app[WALLET]
    # Admin calls set the faults, so the faults never apply to them.
    contract_call = not request.path.startswith("/admin/")
    if contract_call:
        wallet.faults.calls += 1

    body = await request.read()
    if not _signed_by_gateway(wallet.secret, request.headers, body):
        return _signed(wallet, _json({"error": "bad signature or timestamp"}, 401))
    if contract_call and wallet.faults.fail_next > 0:
        wallet.faults.fail_next -= 1
        return _signed(wallet, _json({"error": "injected failure"}, 500))

    try:
        response = await handler(request)
    except Malformed as error:
        return _signed(wallet, _json({"error": str(error)}, 400))
    # The call is applied and committed before the delay, as it would be by a
    # wallet that is merely slow to answer.
    if contract_call and wallet.faults.delay_seconds:
        await asyncio.sleep(wallet.faults.delay_seconds)

    return _signed(wallet, response)


def _signed_by_gateway(secret: bytes, headers: Mapping[str, str], body: bytes) -> bool:
    timestamp = headers.get(TIMESTAMP_HEADER, "")
    given = headers.get(SIGNATURE_HEADER, "")
    if not (timestamp.isascii() and timestamp.isdigit()):
        return False
    # The window bounds how long a captured request can be replayed; within
    # it, replays are answered from the stored answer and move nothing.
    if abs(time.time() - int(timestamp)) > WINDOW_SECONDS:
        return False

    return hmac.compare_digest(sign(secret, timestamp, body).encode(), given.encode())


def _json(document: Mapping[str, Any], status: int = 200) -> web.Response:
    return web.Response(
        status=status, body=orjson.dumps(document), content_type="application/json"
    )


def _signed(wallet: Wallet, response: web.StreamResponse) -> web.StreamResponse:
    # Signed as it leaves, after any delay, so the timestamp is the moment the
    # answer was sent. Every handler here answers with bytes built by `_json`.
    body = response.body if isinstance(response, web.Response) else b""
    assert isinstance(body, bytes)
    timestamp = str(int(time.time()))
    response.headers[TIMESTAMP_HEADER] = timestamp
    response.headers[SIGNATURE_HEADER] = sign(wallet.secret, timestamp, body)

    return response


async def _read(
    request: web.Request,
    fields: Mapping[str, str],
    optional: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    try:
        document = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        raise Malformed("body is not JSON") from None
    if not isinstance(document, dict):
        raise Malformed("body is not a JSON object")

    # Exactly these fields: the signature covers the body but not the path,
    # so a debit body must never be a valid credit body, nor the reverse.
    allowed = {**fields, **(optional or {})}
    missing = sorted(set(fields) - set(document))
    unknown = sorted(set(document) - set(allowed))
    if missing or unknown:
        raise Malformed(f"missing fields {missing}, unknown fields {unknown}")
    for name, value in document.items():
        if not CHECKS[allowed[name]](value):
            raise Malformed(f"{name} is not a valid {allowed[name]}")

    return document


async def _balance(request: web.Request) -> web.Response:
    document = await _read(request, BALANCE_FIELDS)
    return _json(request.app[WALLET].store.balance(**document))


async def _debit(request: web.Request) -> web.Response:
    document = await _read(request, DEBIT_FIELDS)
    return _json(request.app[WALLET].store.debit(document))


async def _credit(request: web.Request) -> web.Response:
    document = await _read(request, CREDIT_FIELDS)
    return _json(request.app[WALLET].store.credit(document))


async def _rollback(request: web.Request) -> web.Response:
    document = await _read(request, ROLLBACK_FIELDS)
    return _json(request.app[WALLET].store.rollback(document))


async def _transaction(request: web.Request) -> web.Response:
    key = request.match_info["idempotency_key"]
    if not CHECKS["text"](key):
        raise Malformed("idempotency_key is not a valid text")

    return _json(request.app[WALLET].store.transaction(key))


async def _set_player(request: web.Request) -> web.Response:
    document = await _read(request, PLAYER_FIELDS, {"blocked": "flag"})
    answer = request.app[WALLET].store.set_player(
        document["operator"],
        document["player"],
        document["currency"],
        document["balance"],
        document.get("blocked", False),
    )

    return _json(answer)


async def _set_faults(request: web.Request) -> web.Response:
    document = await _read(request, FAULT_FIELDS)
    faults = request.app[WALLET].faults
    faults.delay_seconds = float(document["delay_seconds"])
    faults.fail_next = document["fail_next"]

    return _json(
        {
            "status": "ok",
            "delay_seconds": faults.delay_seconds,
            "fail_next": faults.fail_next,
            "calls": faults.calls,
        }
    )


async def _close(app: web.Application) -> None:
    app[WALLET].store.close()
