"""`gamegate demo --payments`: deposits, a fallback, play, a payout, over HTTP.

The demo runs the gateway on a SQLite file in a temporary folder with the
built-in wallet, the real `adyen` and `trustly` adapters wired to the
simulators of Adyen and Trustly (`examples.adyen_simulator`,
`examples.trustly_simulator`), the studio simulator, and a casino endpoint
that checks the signature of every notification it receives. It deposits
by card through Adyen (a session, then its signed AUTHORISATION), makes
Adyen refuse the next deposit so the gateway falls back to Trustly (pending,
then credit), plays a few game rounds, pays out through Trustly's Withdraw
(the player's debit, the merchant's approval through the adapter, since
the gateway has no approval verb, then pending and payoutconfirmation),
and prints every payment with its state history.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import socket
import tempfile
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
from aiohttp import web
from rich.console import Console
from rich.table import Table

from adapters.trustly.adapter import TrustlyAdapter
from examples.adyen_simulator import AdyenSimulator
from examples.softswiss_simulator.client import DEFAULT_GAME, StudioClient
from examples.softswiss_simulator.studio import run_simulator
from examples.trustly_simulator import API_PATH, KeyPair, TrustlySimulator
from gateway.app import build_app
from gateway.config import Config, parse_config
from gateway.demo import Checks
from gateway.ledger import player_ref
from gateway.logs import configure_logging
from gateway.operator_wallet import SIGNATURE_HEADER, TIMESTAMP_HEADER
from gateway.payments.api import PAYMENTS
from gateway.plugins import AdapterRegistry, load_adapters
from gateway.reload import RUNTIME

OPERATOR = "demo-casino"
PLAYER = "demo-player"
CURRENCY = "EUR"
STUDIO = "studio-direct"
ADYEN = "adyen-eu"
TRUSTLY = "trustly-eu"
RETURN_URL = "https://casino.example/back"


@dataclass
class CasinoHook:
    """The casino's notification endpoint: verifies and keeps what arrives."""

    secret: str
    url: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)
    forged: int = 0

    async def take(self, request: web.Request) -> web.Response:
        """Take one notification; refuse it when its signature does not verify."""
        body = await request.read()
        timestamp = request.headers.get(TIMESTAMP_HEADER, "")
        expected = hmac.new(
            self.secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
        ).hexdigest()
        if not hmac.compare_digest(expected, request.headers.get(SIGNATURE_HEADER, "")):
            self.forged += 1
            return web.Response(status=401)
        self.received.append(orjson.loads(body))

        return web.Response(status=204)


@asynccontextmanager
async def run_casino_hook(secret: str) -> AsyncIterator[CasinoHook]:
    """Run the casino's notification endpoint on a free loopback port."""
    hook = CasinoHook(secret)
    app = web.Application()
    app.router.add_post("/payments", hook.take)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        hook.url = f"http://127.0.0.1:{runner.addresses[0][1]}/payments"
        yield hook
    finally:
        await runner.cleanup()


def run_payments_demo(
    rounds: int = 5, seed: int = 7, console: Console | None = None
) -> int:
    """Run the payments demo; return 0 when every check held."""
    configure_logging("console", "warning")
    console = console or Console()

    return asyncio.run(_demo(rounds, seed, console))


@dataclass(frozen=True)
class _Wiring:
    folder: Path
    api_key: str
    studio_url: str
    studio_token: str
    adyen: AdyenSimulator
    adyen_url: str
    trustly: TrustlySimulator
    trustly_url: str
    merchant: KeyPair
    hook: CasinoHook


async def _demo(rounds: int, seed: int, console: Console) -> int:
    studio_token = secrets.token_hex(16)
    merchant = KeyPair.generate()
    adyen = AdyenSimulator(
        secrets.token_urlsafe(24),
        secrets.token_hex(32),
        review_api_key=secrets.token_urlsafe(24),
        seed=seed,
    )
    trustly = TrustlySimulator(merchant.public_pem)
    with tempfile.TemporaryDirectory(prefix="gamegate-payments-") as folder:
        async with AsyncExitStack() as stack:
            studio_url = await stack.enter_async_context(
                run_simulator(studio_token, casino_id=OPERATOR, seed=seed)
            )
            adyen_url = await stack.enter_async_context(adyen.serve())
            trustly_url = await stack.enter_async_context(trustly.serve())
            hook = await stack.enter_async_context(
                run_casino_hook(secrets.token_urlsafe(24))
            )
            wiring = _Wiring(
                Path(folder),
                secrets.token_urlsafe(24),
                studio_url,
                studio_token,
                adyen,
                adyen_url,
                trustly,
                f"{trustly_url}{API_PATH}",
                merchant,
                hook,
            )
            # The socket is bound before the config is built: Trustly is told
            # the gateway's notification URL with every order.
            listener = stack.enter_context(socket.socket())
            listener.bind(("127.0.0.1", 0))
            gateway_url = f"http://127.0.0.1:{listener.getsockname()[1]}"
            registry = load_adapters()
            app = build_app(_config(wiring, gateway_url, registry), registry)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            stack.push_async_callback(runner.cleanup)
            await web.SockSite(runner, listener).start()
            console.print(f"gateway on {gateway_url}")
            console.print(
                f"{ADYEN} (Adyen simulator) on {adyen_url},"
                f" {TRUSTLY} (Trustly simulator) on {trustly_url}"
            )
            checks = await _run(gateway_url, app, wiring, rounds, seed, console)

    for sentence, held in checks.results:
        console.print(
            f"[{'green' if held else 'red'}]{'ok  ' if held else 'FAIL'}[/] {sentence}"
        )
    return 0 if checks.passed else 1


def _config(wiring: _Wiring, gateway_url: str, registry: AdapterRegistry) -> Config:
    adyen = wiring.adyen
    data = {
        "database": f"sqlite:///{wiring.folder / 'gamegate.db'}",
        "operators": [{"name": OPERATOR, "api_keys": [wiring.api_key]}],
        "providers": {
            STUDIO: {
                "adapter": "softswiss",
                "base_url": wiring.studio_url,
                "auth_token": wiring.studio_token,
                "casino_id": OPERATOR,
            },
            ADYEN: {
                "adapter": "adyen",
                "checkout_url": wiring.adyen_url,
                "payout_url": f"{wiring.adyen_url}/pal/servlet",
                "api_key": adyen.api_key,
                "review_api_key": adyen.review_api_key,
                "merchant_account": adyen.merchant_account,
                "hmac_key": adyen.hmac_key,
                "retries": {"attempts": 1},
            },
            TRUSTLY: {
                "adapter": "trustly",
                "api_url": wiring.trustly_url,
                "username": wiring.trustly.username,
                "password": wiring.trustly.password,
                "private_key": wiring.merchant.private_pem,
                "trustly_public_key": wiring.trustly.public_pem,
                "notification_url": f"{gateway_url}/providers/{TRUSTLY}",
                "retries": {"attempts": 1},
            },
        },
        "routes": {"games": [{"match": {"game": "example-studio:*"}, "use": STUDIO}]},
        "payments": {
            "routes": [
                {"name": "payouts", "match": {"kind": "payout"}, "use": TRUSTLY},
                {
                    "name": "eu-deposits",
                    "match": {"currency": CURRENCY, "max": "5000"},
                    "use": ADYEN,
                    "fallback": [TRUSTLY],
                },
            ],
            "notify": {"url": wiring.hook.url, "secret": wiring.hook.secret},
            "outbox": {"poll_seconds": 0.1, "backoff_seconds": 0.1},
        },
    }
    return parse_config(data, registry, {})


async def _run(
    gateway_url: str,
    app: web.Application,
    wiring: _Wiring,
    rounds: int,
    seed: int,
    console: Console,
) -> Checks:
    checks = Checks()
    headers = {"Authorization": f"Bearer {wiring.api_key}"}
    adyen_hook = f"{gateway_url}/providers/{ADYEN}/notifications"
    async with httpx.AsyncClient(base_url=gateway_url, headers=headers) as casino:
        first = await _deposit(casino, "demo-deposit-1", "30.00", "card")
        item = wiring.adyen.authorisation(first["id"])
        delivery = await wiring.adyen.notifier.notify(adyen_hook, item)
        _heard(delivery.accepted, f"{ADYEN} AUTHORISATION", delivery.answer)
        checks.add(f"the first deposit went to {ADYEN}", first["provider"] == ADYEN)

        # A 422 is Adyen refusing the request itself, which another
        # provider may well accept: the gateway falls back.
        wiring.adyen.fail_next(422)
        second = await _deposit(casino, "demo-deposit-2", "20.00", "bank_transfer")
        for method in ("pending", "credit"):
            await _trustly(wiring, second, method)
        checks.add(
            f"{ADYEN} refused the second deposit; it fell back to {TRUSTLY}",
            second["provider"] == TRUSTLY,
        )
        funded = await _balance(casino)
        checks.add(f"both deposits credited once: balance {funded}", funded == "50.00")

        played = await _play(casino, gateway_url, wiring, rounds, seed)
        after_play = await _balance(casino)
        console.print(f"played {played} rounds, balance {after_play}")

        payout = await _create(
            casino, "payouts", "demo-payout-1", "15.00", "bank_transfer"
        )
        reserved = await _balance(casino)
        await _pay_out(app, wiring, payout)
        checks.add(
            f"the payout reserved 15.00 at once: {after_play} -> {reserved}",
            _minor(after_play) - _minor(reserved) == 1500,
        )
        replay = await casino.post(
            "/v1/payments/deposits",
            json=_body("demo-deposit-1", "30.00", "card"),
            headers={"Idempotency-Key": "demo-deposit-1"},
        )
        checks.add(
            "a replayed deposit answered the original",
            replay.json().get("id") == first["id"],
        )

        documents = [
            (await casino.get(f"/v1/payments/{p['id']}")).json()
            for p in (first, second, payout)
        ]
        expected = sum(_moves(document) for document in documents)
        await _await_notifications(wiring.hook, expected)

    console.print(_payments_table(documents))
    states = [d["state"] for d in documents]
    checks.add(
        f"final states: {', '.join(states)}", states == ["succeeded"] * 2 + ["paid"]
    )
    checks.add(
        f"the casino received {len(wiring.hook.received)} signed notifications"
        f" of {expected} state changes, {wiring.hook.forged} forged",
        len(wiring.hook.received) == expected and wiring.hook.forged == 0,
    )
    return checks


async def _trustly(wiring: _Wiring, payment: dict[str, Any], method: str) -> None:
    notification = wiring.trustly.notification(payment["provider_reference"], method)
    reply = await wiring.trustly.notify(notification)
    _heard(reply.ok, f"{TRUSTLY} {method}", orjson.dumps(dict(reply.document)))


async def _pay_out(
    app: web.Application, wiring: _Wiring, payout: dict[str, Any]
) -> None:
    # The player confirms the withdrawal in Trustly's page (`debit`); the
    # merchant then approves it. The gateway has no approval verb, so the
    # demo asks the adapter itself, then Trustly sends the money.
    await _trustly(wiring, payout, "debit")
    adapter = app[RUNTIME].adapters[TRUSTLY]
    stored = await app[PAYMENTS].store.get(payout["id"])
    if not isinstance(adapter, TrustlyAdapter) or stored is None:
        raise RuntimeError(f"{TRUSTLY} holds no payout {payout['id']}")
    await adapter.approve_payout(stored.record())
    for method in ("pending", "payoutconfirmation"):
        await _trustly(wiring, payout, method)


def _heard(accepted: bool, what: str, answer: bytes) -> None:
    if not accepted:
        text = answer.decode(errors="replace")[:200]
        raise RuntimeError(f"the gateway refused the webhook {what}: {text}")


def _moves(document: dict[str, Any]) -> int:
    # Every move but the first (the payment's creation) is notified.
    moved = [h for h in document["history"] if h["outcome"] == "moved"]
    return len(moved) - 1


def _body(reference: str, amount: str, method: str) -> dict[str, Any]:
    return {
        "reference": reference,
        "player": PLAYER,
        "amount": amount,
        "currency": CURRENCY,
        "method": method,
        "country": "DE",
        "return_url": RETURN_URL,
    }


async def _create(
    casino: httpx.AsyncClient, kind: str, reference: str, amount: str, method: str
) -> dict[str, Any]:
    answer = await casino.post(
        f"/v1/payments/{kind}",
        json=_body(reference, amount, method),
        headers={"Idempotency-Key": reference},
    )
    document: dict[str, Any] = answer.json()
    if "id" not in document:
        raise RuntimeError(f"the gateway refused the {kind[:-1]}: {answer.text}")
    return document


async def _deposit(
    casino: httpx.AsyncClient, reference: str, amount: str, method: str
) -> dict[str, Any]:
    return await _create(casino, "deposits", reference, amount, method)


async def _balance(casino: httpx.AsyncClient) -> str:
    answer = await casino.get(
        f"/v1/players/{PLAYER}/balance", params={"currency": CURRENCY}
    )
    return str(answer.json()["balance"])


def _minor(amount: str) -> int:
    units, _, cents = amount.partition(".")
    return int(units) * 100 + int(cents.ljust(2, "0"))


async def _play(
    casino: httpx.AsyncClient, gateway_url: str, wiring: _Wiring, rounds: int, seed: int
) -> int:
    launch = await casino.post(
        "/v1/sessions",
        json={"player": PLAYER, "game": DEFAULT_GAME, "currency": CURRENCY},
    )
    if launch.status_code != 201:
        raise RuntimeError(f"the launch failed: {launch.text}")
    callback_url = f"{gateway_url}/providers/{STUDIO}/"
    user = player_ref(OPERATOR, PLAYER)
    async with StudioClient(callback_url, wiring.studio_token, seed=seed) as studio:
        for _ in range(rounds):
            await studio.play_round(user, CURRENCY)

    return rounds


async def _await_notifications(hook: CasinoHook, count: int) -> None:
    for _ in range(100):
        if len(hook.received) >= count:
            return
        await asyncio.sleep(0.05)


def _payments_table(documents: list[dict[str, Any]]) -> Table:
    table = Table("payment", "kind", "amount", "provider", "state history")
    for document in documents:
        steps = [
            f"{h['from'] or '-'} -> {h['to']} ({h['source']})"
            if h["outcome"] == "moved"
            else f"  {h['reason']}"
            for h in document["history"]
        ]
        table.add_row(
            document["id"][-8:],
            document["kind"],
            f"{document['amount']} {document['currency']}",
            document["provider"],
            "\n".join(steps),
        )
    return table
