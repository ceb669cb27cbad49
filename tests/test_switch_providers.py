"""Moving a game between two provider instances by editing the config.

The same game is offered by a studio direct and by the same studio through
an aggregator: two instances, two simulators, over real HTTP. The operator
moves the game from one to the other by editing the config and reloading;
sessions opened before the change finish on the instance that opened them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp.test_utils import TestClient

from examples.softswiss_simulator.client import StudioClient
from examples.softswiss_simulator.studio import run_simulator
from gateway.app import build_app
from gateway.config import load_config
from gateway.plugins import load_adapters

API_KEY = "switch-test-operator-key-01"
ADMIN_KEY = "switch-test-admin-key-0001"
GAME = "example-studio:fruit-reels"
USER = "casino-a:player-1"
AUTH = {"Authorization": f"Bearer {API_KEY}"}


def config(database: str, direct: str, hub: str, serving: str) -> dict[str, Any]:
    """Return a config where `serving` is the instance the game routes to."""
    instance = {"adapter": "softswiss", "casino_id": "casino-a"}
    return {
        "database": database,
        "admin": {"api_keys": [ADMIN_KEY]},
        "operators": [{"name": "casino-a", "api_keys": [API_KEY]}],
        "providers": {
            "studio-direct": {**instance, "base_url": direct, "auth_token": "direct"},
            "studio-via-hub": {**instance, "base_url": hub, "auth_token": "via-hub"},
        },
        "routes": {"games": [{"match": {"game": "example-studio:*"}, "use": serving}]},
    }


@pytest.fixture
async def studios() -> AsyncIterator[tuple[str, str]]:
    """The studio's own launch API and the aggregator's, on loopback."""
    async with (
        run_simulator("direct", casino_id="casino-a") as direct,
        run_simulator("via-hub", casino_id="casino-a") as hub,
    ):
        yield direct, hub


async def launch(client: TestClient[Any, Any]) -> dict[str, Any]:
    """Launch the game for the test player and return the answer."""
    response = await client.post(
        "/v1/sessions",
        headers=AUTH,
        json={"player": "player-1", "game": GAME, "currency": "EUR"},
    )
    assert response.status == 201, await response.text()
    document: dict[str, Any] = await response.json()
    return document


async def test_game_moves_by_config_and_open_sessions_finish_where_they_began(
    aiohttp_client: Any, tmp_path: Path, studios: tuple[str, str]
) -> None:
    """After the edit new launches go to the aggregator; the old round settles."""
    direct, hub = studios
    path = tmp_path / "gamegate.yaml"
    database = f"sqlite:///{tmp_path / 'gamegate.db'}"
    path.write_text(yaml.safe_dump(config(database, direct, hub, "studio-direct")))
    registry = load_adapters()
    client = await aiohttp_client(
        build_app(load_config(path, registry), registry, config_path=path)
    )
    await client.post(
        "/v1/wallet/transfers",
        headers=AUTH,
        json={
            "player": "player-1",
            "currency": "EUR",
            "amount": "10.00",
            "direction": "credit",
            "reference": "fund-1",
        },
    )
    before = await launch(client)
    base = str(client.make_url("/providers"))
    async with StudioClient(f"{base}/studio-direct/", "direct") as studio:
        bet = await studio.bet(USER, "EUR", 100, round_id="old-round")

        path.write_text(yaml.safe_dump(config(database, direct, hub, "studio-via-hub")))
        reloaded = await client.post(
            "/admin/reload", headers={"X-Admin-Key": ADMIN_KEY}
        )
        after = await launch(client)
        win = await studio.win(USER, "EUR", 300, round_id="old-round")
    async with StudioClient(f"{base}/studio-via-hub/", "via-hub") as aggregator:
        round_there = await aggregator.play_round(USER, "EUR", bet=50, win=0)

    balance = await client.get(
        "/v1/players/player-1/balance", params={"currency": "EUR"}, headers=AUTH
    )
    assert before["provider"] == "studio-direct"
    assert reloaded.status == 200, await reloaded.text()
    assert after["provider"] == "studio-via-hub"
    assert bet.ok and win.ok
    assert not round_there.refused
    assert (await balance.json())["balance"] == "11.50"
    pinned = await client.get(f"/v1/sessions/{before['session_id']}", headers=AUTH)
    assert (await pinned.json())["provider"] == "studio-direct"
