"""The gateway over real HTTP: the operator API and provider callbacks.

The gateway runs on loopback with a real SQLite file; launches go to the
studio simulator on loopback; callbacks are signed as the studio signs them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from contracts.signing import hmac_sha256_hex
from examples.softswiss_simulator.studio import run_simulator
from gateway.app import RUNTIME, build_app
from gateway.config import parse_config
from gateway.plugins import load_adapters

API_KEY = "casino-a-test-key-0123456789"
TOKEN = "studio-secret"
USER = "casino-a:player-1"
GAME = "example-studio:fruit-reels"
AUTH = {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture
async def studio_url() -> AsyncIterator[str]:
    """The studio simulator on a free loopback port."""
    async with run_simulator(TOKEN, casino_id="casino-a") as url:
        yield url


@pytest.fixture
async def client(
    aiohttp_client: Any, tmp_path: Path, studio_url: str
) -> TestClient[web.Request, web.Application]:
    """The gateway on loopback, wired to the studio simulator."""
    data = {
        "database": f"sqlite:///{tmp_path / 'gamegate.db'}",
        "limits": {"max_body_bytes": 4096},
        "operators": [{"name": "casino-a", "api_keys": [API_KEY]}],
        "providers": {
            "studio-direct": {
                "adapter": "softswiss",
                "base_url": studio_url,
                "auth_token": TOKEN,
                "casino_id": "casino-a",
            }
        },
        "routes": {"games": [{"games": ["example-studio:*"], "use": "studio-direct"}]},
    }
    registry = load_adapters()
    gateway: TestClient[web.Request, web.Application] = await aiohttp_client(
        build_app(parse_config(data, registry, {}), registry)
    )
    return gateway


async def fund(client: TestClient[Any, Any], amount: str = "10.00") -> None:
    """Credit the test player through the operator API."""
    response = await client.post(
        "/v1/wallet/transfers",
        headers=AUTH,
        json={
            "player": "player-1",
            "currency": "EUR",
            "amount": amount,
            "direction": "credit",
            "reference": f"fund-{amount}",
        },
    )
    assert response.status == 200


async def balance(client: TestClient[Any, Any]) -> str:
    """Return the test player's balance as the operator API shows it."""
    response = await client.get(
        "/v1/players/player-1/balance", params={"currency": "EUR"}, headers=AUTH
    )
    document = await response.json()
    return str(document["balance"])


async def ledger_rows(client: TestClient[Any, Any]) -> int:
    """Return how many ledger rows the studio instance has."""
    row = await client.app[RUNTIME].db.one(
        "SELECT count(*) FROM transactions WHERE provider = 'studio-direct'"
    )
    assert row is not None
    return int(row[0])


async def play(
    client: TestClient[Any, Any], body: bytes, *, sign: str | None = None
) -> tuple[int, dict[str, Any]]:
    """Send a signed /play callback and return its status and document."""
    signature = hmac_sha256_hex(TOKEN, body) if sign is None else sign
    response = await client.post(
        "/providers/studio-direct/play",
        data=body,
        headers={"X-REQUEST-SIGN": signature, "Content-Type": "application/json"},
    )
    answer = await response.read()
    assert response.headers["X-REQUEST-SIGN"] == hmac_sha256_hex(TOKEN, answer)
    return response.status, orjson.loads(answer)


def bet(amount: object, action_id: str = "a1", currency: str = "EUR") -> bytes:
    """Return a /play body with one bet."""
    return orjson.dumps(
        {
            "user_id": USER,
            "currency": currency,
            "game": GAME,
            "game_id": "round-1",
            "finished": False,
            "actions": [{"action": "bet", "action_id": action_id, "amount": amount}],
        }
    )


async def test_launch_returns_url_session_and_provider(
    client: TestClient[Any, Any],
) -> None:
    """A launch routes the game, records the session and answers the game URL."""
    response = await client.post(
        "/v1/sessions",
        headers=AUTH,
        json={"player": "player-1", "game": GAME, "currency": "EUR"},
    )
    document = await response.json()

    assert response.status == 201
    assert document["provider"] == "studio-direct"
    assert document["url"].startswith("http://127.0.0.1:")
    assert document["expires_at"]
    session = await client.get(f"/v1/sessions/{document['session_id']}", headers=AUTH)
    assert (await session.json())["provider"] == "studio-direct"


@pytest.mark.parametrize(
    ("headers", "body", "status", "code"),
    [
        ({"Authorization": "Bearer wrong-key"}, {}, 401, "unauthorized"),
        ({}, {}, 401, "unauthorized"),
        (
            AUTH,
            {"player": "p", "game": "other:game", "currency": "EUR"},
            404,
            "unknown_game",
        ),
        (
            AUTH,
            {"player": "p", "game": GAME, "currency": "EUR", "provider": "nowhere"},
            404,
            "unknown_provider",
        ),
        (
            AUTH,
            {"player": "p", "game": GAME, "currency": "XXQ"},
            400,
            "unknown_currency",
        ),
        (AUTH, {"player": 7, "game": GAME, "currency": "EUR"}, 400, "bad_request"),
        (AUTH, {"player": "p", "game": GAME}, 400, "bad_request"),
        (
            AUTH,
            {"player": "p", "game": GAME, "currency": "EUR", "x": 1},
            400,
            "bad_request",
        ),
        (AUTH, {"player": "a b", "game": GAME, "currency": "EUR"}, 400, "bad_request"),
    ],
)
async def test_bad_launch_gets_json_error_with_stable_code(
    client: TestClient[Any, Any],
    headers: dict[str, str],
    body: dict[str, object],
    status: int,
    code: str,
) -> None:
    """Bad keys, unknown games or providers and bad bodies get stable codes."""
    response = await client.post("/v1/sessions", headers=headers, json=body)

    assert response.status == status
    assert (await response.json())["error"]["code"] == code


async def test_malformed_and_oversized_launch_bodies_are_refused(
    client: TestClient[Any, Any],
) -> None:
    """A launch body that is not JSON, or too large, is refused as such."""
    malformed = await client.post("/v1/sessions", headers=AUTH, data=b"{nope")
    oversized = await client.post("/v1/sessions", headers=AUTH, data=b" " * 8192)

    assert (await malformed.json())["error"]["code"] == "bad_request"
    assert oversized.status == 413
    assert (await oversized.json())["error"]["code"] == "body_too_large"


@pytest.mark.parametrize(
    "amount", ["10.005", "99999999999999999999999.00", "-1.00", "1e3", "1,00"]
)
async def test_transfer_with_an_inexact_amount_is_refused_and_writes_nothing(
    client: TestClient[Any, Any], amount: str
) -> None:
    """A funding amount that is not exact money in the currency moves nothing."""
    response = await client.post(
        "/v1/wallet/transfers",
        headers=AUTH,
        json={
            "player": "player-1",
            "currency": "EUR",
            "amount": amount,
            "direction": "credit",
            "reference": "fund-1",
        },
    )

    error = (await response.json())["error"]
    assert response.status == 400
    assert error["code"] == "bad_amount"
    assert "EUR has 2 decimals" in error["message"]
    players = await client.app[RUNTIME].db.one("SELECT count(*) FROM players")
    assert players == (0,)


async def test_signed_bet_is_applied_and_answered_in_protocol(
    client: TestClient[Any, Any],
) -> None:
    """A signed bet moves money and is answered with balance and tx_id."""
    await fund(client)

    status, document = await play(client, bet(250))

    assert status == 200
    assert document["balance"] == 750
    assert document["transactions"][0]["action_id"] == "a1"
    assert await balance(client) == "7.50"


@pytest.mark.parametrize(
    ("signature", "case"),
    [
        ("0" * 64, "wrong"),
        ("", "missing"),
        (hmac_sha256_hex("other", bet(250)), "other key"),
    ],
)
async def test_bad_signature_gets_403_and_writes_nothing(
    client: TestClient[Any, Any], signature: str, case: str
) -> None:
    """A callback whose signature does not verify is refused before reading it."""
    await fund(client)

    status, document = await play(client, bet(250), sign=signature)

    assert status == 403, case
    assert document["code"] == 403
    assert await ledger_rows(client) == 0
    assert await balance(client) == "10.00"


@pytest.mark.parametrize(
    ("body", "case"),
    [
        (b"{not json", "malformed JSON"),
        (b"[]", "not an object"),
        (bet("2.50"), "amount as a string"),
        (bet(2.5), "amount as a float"),
        (bet(True), "amount as a bool"),
        (bet(-250), "negative amount"),
        (bet(250, currency="XXQ"), "unknown currency"),
        (
            orjson.dumps(
                {
                    "user_id": USER,
                    "currency": "EUR",
                    "game": GAME,
                    "actions": [{"action": "steal", "action_id": "a", "amount": 1}],
                }
            ),
            "unknown action",
        ),
    ],
)
async def test_bad_callback_body_gets_400_and_writes_nothing(
    client: TestClient[Any, Any], body: bytes, case: str
) -> None:
    """A signed callback with a body the protocol forbids moves nothing."""
    await fund(client)

    status, document = await play(client, body)

    assert status == 400, case
    assert document["code"] == 400
    assert await ledger_rows(client) == 0
    assert await balance(client) == "10.00"


async def test_oversized_callback_gets_protocol_400_and_writes_nothing(
    client: TestClient[Any, Any],
) -> None:
    """A callback over the body limit is answered in the protocol, not by aiohttp."""
    await fund(client)
    body = bet(250)[:-1] + b"," + b'"pad":"' + b"x" * 8192 + b'"}'

    status, document = await play(client, body)

    assert status == 400
    assert document["code"] == 400
    assert await ledger_rows(client) == 0


async def test_retransmitted_bet_is_answered_as_original(
    client: TestClient[Any, Any],
) -> None:
    """The same signed bytes sent twice move money once and answer the same tx_id."""
    await fund(client)

    _, first = await play(client, bet(250))
    _, second = await play(client, bet(250))

    assert second["transactions"] == first["transactions"]
    assert await balance(client) == "7.50"


async def test_unknown_instance_and_callback_path_are_refused(
    client: TestClient[Any, Any],
) -> None:
    """Callbacks to an unconfigured instance or an unknown path move nothing."""
    unknown_instance = await client.post("/providers/nowhere/play", data=bet(1))
    unknown_path = await client.post(
        "/providers/studio-direct/steal",
        data=bet(1),
        headers={"X-REQUEST-SIGN": hmac_sha256_hex(TOKEN, bet(1))},
    )

    assert unknown_instance.status == 404
    assert unknown_path.status == 400
    assert await ledger_rows(client) == 0


async def test_health_readiness_and_metrics_answer(
    client: TestClient[Any, Any],
) -> None:
    """`/healthz`, `/readyz` and `/metrics` answer without an API key."""
    await fund(client)
    await play(client, bet(1))

    health = await client.get("/healthz")
    ready = await client.get("/readyz")
    metrics = await (await client.get("/metrics")).text()

    assert health.status == ready.status == 200
    assert (
        'ledger_outcomes_total{operation="debit",provider="studio-direct",status="ok"}'
        in metrics
    )
    assert "/providers/{instance}/{path}" in metrics
