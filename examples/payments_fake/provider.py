"""A fake payment provider on loopback HTTP: payments in memory, signed webhooks.

Its API, authenticated with the `X-Fake-Key` header:

- `POST /payments` `{merchant_reference, kind, amount, currency, method,
  player, idempotency_key}` starts a payment (the same key answers the same
  payment) and answers `{id, state, redirect_url}`.
- `POST /payments/{id}/refund` accepts a refund, to be confirmed by webhook.
- `GET /payments/{id}` answers `{id, state}`.

`mode` makes the next calls fail: `decline` (the player's bank said no,
shareable), `refuse` (this provider does not serve it, not shareable),
`error` (500 after taking the request) or `hang` (no answer in time).
`send` posts signed webhooks (`X-Fake-Signature`, hex HMAC-SHA256 of the
body) to the gateway and expects the plain-text answer `[accepted]`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
from aiohttp import web

SIGNATURE_HEADER = "X-Fake-Signature"
KEY_HEADER = "X-Fake-Key"
ACCEPTED = b"[accepted]"
_INITIAL = {"deposit": "requires_action", "payout": "processing"}


def signature(secret: str, body: bytes) -> str:
    """Return the hex HMAC-SHA256 the fake provider signs a webhook body with."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass
class FakeProvider:
    """The provider's state: its payments, the mode of the next calls, counters."""

    secret: str
    url: str = ""
    mode: str = "ok"
    hang_seconds: float = 2.0
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: Counter[str] = field(default_factory=Counter)
    _keys: dict[str, str] = field(default_factory=dict)

    def event(
        self,
        payment_id: str,
        state: str,
        *,
        event_id: str | None = None,
        amount: str | None = None,
        currency: str | None = None,
    ) -> dict[str, Any]:
        """Return one webhook event about a payment this provider holds."""
        held = next(
            (
                p
                for p in self.payments.values()
                if p["merchant_reference"] == payment_id
            ),
            {},
        )
        return {
            "event_id": event_id or f"evt_{secrets.token_hex(8)}",
            "merchant_reference": payment_id,
            "id": held.get("id"),
            "state": state,
            "amount": amount or held.get("amount"),
            "currency": currency or held.get("currency"),
        }

    def webhook(self, *events: Mapping[str, Any]) -> tuple[bytes, dict[str, str]]:
        """Return a signed webhook body carrying `events`, with its headers."""
        body = orjson.dumps({"events": list(events)})
        headers = {
            SIGNATURE_HEADER: signature(self.secret, body),
            "Content-Type": "application/json",
        }
        return body, headers

    async def send(
        self, gateway_url: str, instance: str, *events: Mapping[str, Any]
    ) -> httpx.Response:
        """Post a signed webhook to the gateway's intake for `instance`."""
        body, headers = self.webhook(*events)
        async with httpx.AsyncClient() as client:
            return await client.post(
                f"{gateway_url}/providers/{instance}/webhook",
                content=body,
                headers=headers,
            )

    async def _create(self, request: web.Request) -> web.Response:
        self.calls["create"] += 1
        refused = await self._refused(request)
        if refused is not None:
            return refused
        body = orjson.loads(await request.read())
        existing = self._keys.get(body["idempotency_key"])
        if existing is None:
            existing = f"fp_{secrets.token_hex(8)}"
            self._keys[body["idempotency_key"]] = existing
            self.payments[existing] = {
                "id": existing,
                "state": _INITIAL[body["kind"]],
                **body,
            }
        held = self.payments[existing]
        answer = {
            "id": existing,
            "state": held["state"],
            "redirect_url": f"{self.url}/pay/{existing}",
        }

        return web.json_response(answer, status=201)

    async def _refund(self, request: web.Request) -> web.Response:
        self.calls["refund"] += 1
        refused = await self._refused(request)
        if refused is not None:
            return refused
        held = self.payments.get(request.match_info["id"])
        if held is None:
            return web.json_response({"error": "unknown"}, status=404)

        return web.json_response({"id": held["id"], "state": held["state"]})

    async def _status(self, request: web.Request) -> web.Response:
        self.calls["status"] += 1
        refused = await self._refused(request)
        if refused is not None:
            return refused
        held = self.payments.get(request.match_info["id"])
        if held is None:
            return web.json_response({"error": "unknown"}, status=404)

        return web.json_response({"id": held["id"], "state": held["state"]})

    async def _refused(self, request: web.Request) -> web.Response | None:
        if not hmac.compare_digest(request.headers.get(KEY_HEADER, ""), self.secret):
            return web.json_response({"error": "unauthorized"}, status=401)
        if self.mode == "decline":
            return web.json_response(
                {"error": "declined", "shareable": True}, status=422
            )
        if self.mode == "refuse":
            return web.json_response(
                {"error": "not served here", "shareable": False}, status=422
            )
        if self.mode == "error":
            await request.read()
            return web.json_response({"error": "internal"}, status=500)
        if self.mode == "hang":
            await asyncio.sleep(self.hang_seconds)
        return None


def create_app(provider: FakeProvider) -> web.Application:
    """Return the provider's aiohttp application."""
    app = web.Application()
    app.router.add_post("/payments", provider._create)
    app.router.add_post("/payments/{id}/refund", provider._refund)
    app.router.add_get("/payments/{id}", provider._status)

    return app


@asynccontextmanager
async def run_provider(secret: str) -> AsyncIterator[FakeProvider]:
    """Run a fake provider on a free loopback port; yield it with its URL set."""
    provider = FakeProvider(secret)
    runner = web.AppRunner(create_app(provider), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        provider.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        yield provider
    finally:
        await runner.cleanup()
