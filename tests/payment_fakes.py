"""What the payment tests run against: gateways, fake providers, a casino.

Everything is real HTTP on loopback: the gateway is the real application
on a real database, each provider instance is `examples.payments_fake`'s
provider, and the casino is a small server that records the signed
notifications it receives and can be told to answer 503 for a while.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
from aiohttp import web
from aiohttp.test_utils import TestServer

import examples.payments_fake
from examples.payments_fake import FakeProvider
from gateway.app import build_app
from gateway.config import parse_config
from gateway.payments.api import PAYMENTS
from gateway.payments.service import Payments
from gateway.plugins import AdapterRegistry, load_adapters

API_KEY = "casino-a-test-key-0123456789"
NOTIFY_SECRET = "casino-notify-secret-0123456789"
OPERATOR = "casino-a"
PLAYER = "player-1"
AUTH = {"Authorization": f"Bearer {API_KEY}"}


def registry() -> AdapterRegistry:
    """Return the installed adapters plus the fake payment adapter."""
    return load_adapters(plugins=[examples.payments_fake])


def closed_port_url() -> str:
    """Return a loopback URL where nothing listens, so connecting is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def config_data(
    database: str,
    providers: dict[str, str],
    *,
    routes: list[dict[str, Any]] | None = None,
    notify_url: str | None = None,
    secret: str = "provider-secret-0123456789",
    outbox: dict[str, Any] | None = None,
    wallet: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Return a gateway config with one fakepay instance per `providers` entry.

    Without `routes`, every payment goes to the first instance and falls
    back to the others in order.
    """
    names = list(providers)
    payments: dict[str, Any] = {
        "routes": routes
        if routes is not None
        else [{"name": "all", "use": names[0], "fallback": names[1:]}],
        "outbox": {
            "poll_seconds": 0.05,
            "backoff_seconds": 0.02,
            "max_backoff_seconds": 0.1,
            "timeout_seconds": 2,
            **(outbox or {}),
        },
    }
    if notify_url is not None:
        payments["notify"] = {"url": notify_url, "secret": NOTIFY_SECRET}
    data: dict[str, Any] = {
        "database": database,
        "operators": [{"name": OPERATOR, "api_keys": [API_KEY]}],
        "providers": {
            name: {
                "adapter": "fakepay",
                "base_url": url,
                "secret": secret,
                "timeouts": {"connect": 1, "total": 1},
                "retries": {"attempts": 1},
            }
            for name, url in providers.items()
        },
        "payments": payments,
    }
    if wallet is not None:
        data["wallet"] = wallet
    return data


@dataclass
class Gateway:
    """A running gateway: its URL, its application and an operator client."""

    url: str
    app: web.Application
    http: httpx.AsyncClient

    @property
    def payments(self) -> Payments:
        """The application's payment flows."""
        return self.app[PAYMENTS]

    async def deposit(self, key: str = "dep-1", **fields: Any) -> httpx.Response:
        """Start a deposit through the operator API."""
        return await self.http.post(
            "/v1/payments/deposits",
            json=payment_body(key, **fields),
            headers={"Idempotency-Key": key},
        )

    async def payout(self, key: str = "pay-1", **fields: Any) -> httpx.Response:
        """Start a payout through the operator API."""
        return await self.http.post(
            "/v1/payments/payouts",
            json=payment_body(key, **fields),
            headers={"Idempotency-Key": key},
        )

    async def payment(self, payment_id: str) -> dict[str, Any]:
        """Return a payment's document from the operator API."""
        answer = await self.http.get(f"/v1/payments/{payment_id}")
        assert answer.status_code == 200, answer.text
        document: dict[str, Any] = answer.json()
        return document

    async def balance(self, currency: str = "EUR") -> str | None:
        """Return the test player's built-in balance, or None without one."""
        answer = await self.http.get(
            f"/v1/players/{PLAYER}/balance", params={"currency": currency}
        )
        return answer.json()["balance"] if answer.status_code == 200 else None

    async def fund(self, amount: str, reference: str = "fund-1") -> None:
        """Credit the test player through the operator API."""
        answer = await self.http.post(
            "/v1/wallet/transfers",
            json={
                "player": PLAYER,
                "currency": "EUR",
                "amount": amount,
                "direction": "credit",
                "reference": reference,
            },
        )
        assert answer.status_code == 200, answer.text

    async def spend(self, amount: str, reference: str = "spend-1") -> None:
        """Debit the test player through the operator API, as play would."""
        answer = await self.http.post(
            "/v1/wallet/transfers",
            json={
                "player": PLAYER,
                "currency": "EUR",
                "amount": amount,
                "direction": "debit",
                "reference": reference,
            },
        )
        assert answer.status_code == 200, answer.text


def payment_body(reference: str, **fields: Any) -> dict[str, Any]:
    """Return an operator API payment body, with `fields` overriding defaults."""
    return {
        "reference": reference,
        "player": PLAYER,
        "amount": "25.00",
        "currency": "EUR",
        "method": "card",
        "country": "DE",
        **fields,
    }


@asynccontextmanager
async def running_gateway(data: dict[str, Any]) -> AsyncIterator[Gateway]:
    """Run the gateway on loopback for one config; stop it on exit."""
    adapters = registry()
    app = build_app(parse_config(data, adapters, {}), adapters)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    url = str(server.make_url("")).rstrip("/")
    try:
        async with httpx.AsyncClient(base_url=url, headers=AUTH, timeout=10) as http:
            yield Gateway(url, app, http)
    finally:
        await server.close()


@dataclass
class Casino:
    """The casino's webhook endpoint: records what arrives, fails when told."""

    url: str = ""
    failures: int = 0
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    refused: int = 0

    def documents(self) -> list[dict[str, Any]]:
        """Return the notifications received, in arrival order."""
        return [orjson.loads(body) for _, body in self.received]

    async def _take(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self.failures > 0:
            self.failures -= 1
            self.refused += 1
            return web.Response(status=503, text="down")
        self.received.append((dict(request.headers), body))
        return web.Response(status=204)


@asynccontextmanager
async def running_casino(failures: int = 0) -> AsyncIterator[Casino]:
    """Run the casino's webhook endpoint; it answers 503 `failures` times first."""
    casino = Casino(failures=failures)
    app = web.Application()
    app.router.add_post("/notify", casino._take)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        casino.url = f"http://127.0.0.1:{runner.addresses[0][1]}/notify"
        yield casino
    finally:
        await runner.cleanup()


def verifies(headers: dict[str, str], body: bytes) -> bool:
    """Return whether a notification carries the gateway's valid signature."""
    timestamp = headers["X-Gamegate-Timestamp"]
    expected = hmac.new(
        NOTIFY_SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(expected, headers["X-Gamegate-Signature"])


async def eventually(
    check: Callable[[], Awaitable[bool]], seconds: float = 10.0
) -> None:
    """Wait until `check` holds, polling; fail the test after `seconds`."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("the condition never held")
        await asyncio.sleep(0.02)


async def succeed(
    gateway: Gateway, provider: FakeProvider, instance: str, payment_id: str
) -> httpx.Response:
    """Send the provider's signed `succeeded` webhook for a payment."""
    event = provider.event(payment_id, "succeeded")
    return await provider.send(gateway.url, instance, event)
