"""CoinsPaid's merchant API over HTTP: the routes, their answers and faults.

`serve` (or `run_simulator`) puts a `Processing` account on loopback under
`/api`, so the yielded URL is the adapter's `api_url`; requests then go to
`/api/v2/addresses/take` and `/api/v2/withdrawal/crypto`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from decimal import Decimal
from typing import Any

import orjson
from aiohttp import web

from contracts.signing import same_signature
from examples.coinspaid_simulator.callbacks import KEY_HEADER, SIGNATURE_HEADER
from examples.coinspaid_simulator.processing import Fault, Processing, Refusal


@asynccontextmanager
async def serve(
    processing: Processing, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[str]:
    """Serve an account's API over HTTP and yield its base URL, the api_url."""
    runner = web.AppRunner(create_app(processing), shutdown_timeout=5.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_port = runner.addresses[0][1]
        shown = f"[{host}]" if ":" in host else host
        yield f"http://{shown}:{bound_port}/api"
    finally:
        processing.close()
        await runner.cleanup()


def run_simulator(
    public_key: str,
    secret: str,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    webhook_url: str | None = None,
    settle_after: float | None = None,
    seed: int = 0,
) -> AbstractAsyncContextManager[str]:
    """Start a fresh simulated CoinsPaid on `host:port`; yield its API base URL.

    Use as `async with run_simulator(key, secret) as api_url:`; 0 picks a free
    port. To send callbacks or look at its state, build a `Processing` and
    use `async with serve(processing)`.
    """
    processing = Processing(
        public_key,
        secret,
        webhook_url=webhook_url,
        settle_after=settle_after,
        seed=seed,
    )

    return serve(processing, host, port)


PROCESSING = web.AppKey("processing", Processing)


def create_app(processing: Processing) -> web.Application:
    """Build the aiohttp application that answers CoinsPaid's merchant API."""
    app = web.Application()
    app[PROCESSING] = processing
    app.router.add_post("/api/v2/addresses/take", _take_address)
    app.router.add_post("/api/v2/withdrawal/crypto", _withdraw)

    return app


async def _take_address(request: web.Request) -> web.StreamResponse:
    processing = request.app[PROCESSING]
    processing.received["addresses/take"] += 1
    try:
        document = await _signed_document(processing, request)
        address = processing.take_address(document)
    except Refusal as refusal:
        return _answer(refusal.status, refusal.document)

    data: dict[str, Any] = {
        "id": address.id,
        "currency": address.currency,
        "address": address.address,
        "tag": address.tag,
        "foreign_id": address.foreign_id,
    }
    if address.convert_to is not None:
        data["convert_to"] = address.convert_to

    return _answer(201, {"data": data})


async def _withdraw(request: web.Request) -> web.StreamResponse:
    processing = request.app[PROCESSING]
    processing.received["withdrawal/crypto"] += 1
    try:
        document = await _signed_document(processing, request)
        withdrawal = processing.withdraw(document)
    except Refusal as refusal:
        return _answer(refusal.status, refusal.document)
    processing.schedule_settlement(withdrawal.foreign_id)

    return _answer(
        201,
        {
            "data": {
                "id": withdrawal.id,
                "foreign_id": withdrawal.foreign_id,
                "type": "withdrawal",
                "status": withdrawal.status,
                "amount": withdrawal.amount,
                "sender_amount": withdrawal.amount,
                "sender_currency": withdrawal.currency,
                "receiver_amount": withdrawal.amount,
                "receiver_currency": withdrawal.currency,
            }
        },
    )


async def _signed_document(
    processing: Processing, request: web.Request
) -> Mapping[str, Any]:
    """Read the body, act out a queued fault, check key and signature, parse."""
    body = await request.read()
    fault = processing.next_fault()
    if fault is not None:
        await _misbehave(processing, request, fault)

    if request.headers.get(KEY_HEADER) != processing.public_key:
        raise Refusal(403, {"error": "Unknown public key", "code": "bad_key"})
    given = request.headers.get(SIGNATURE_HEADER, "")
    if not same_signature(processing.sign(body), given):
        raise Refusal(403, {"error": "Invalid signature", "code": "bad_signature"})

    try:
        document = json.loads(body, parse_float=Decimal)
    except ValueError:
        raise Refusal(400, {"errors": {"body": "Body must be valid JSON."}}) from None
    if not isinstance(document, dict):
        raise Refusal(400, {"errors": {"body": "Body must be a JSON object."}})

    return document


async def _misbehave(
    processing: Processing, request: web.Request, fault: Fault
) -> None:
    if fault.kind == "status":
        raise Refusal(fault.status, fault.document or {})
    if fault.kind == "hang":
        await processing.hang()
    if request.transport is not None:
        request.transport.abort()

    # Nothing can be written on an aborted connection; aiohttp drops the answer.
    raise Refusal(500, {})


def _answer(status: int, document: Mapping[str, Any]) -> web.Response:
    return web.Response(
        status=status, body=orjson.dumps(document), content_type="application/json"
    )
