"""A gateway killed in the middle of a burst loses nothing and applies nothing twice.

The gateway runs as a real `gamegate serve` process on a SQLite file. It is
killed with SIGKILL while signed callbacks are in flight, started again, and
the provider's retries resend every callback. The ledger and the balance must
then agree with what the studio sent, each action applied exactly once.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
import yaml

from contracts.signing import hmac_sha256_hex

API_KEY = "crash-test-operator-key-0001"
TOKEN = "crash-test-studio-token"
ROUNDS = 240


def free_port() -> int:
    """Return a TCP port free on loopback right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    """A config for one gateway on a free port and a SQLite file."""
    path = tmp_path / "gamegate.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "database": f"sqlite:///{tmp_path / 'gamegate.db'}",
                "listen": {"host": "127.0.0.1", "port": free_port()},
                "logging": {"level": "warning"},
                "operators": [{"name": "casino-a", "api_keys": [API_KEY]}],
                "providers": {
                    "studio-direct": {
                        "adapter": "softswiss",
                        "base_url": "http://127.0.0.1:9",
                        "auth_token": TOKEN,
                        "casino_id": "casino-a",
                    }
                },
            }
        )
    )
    return path


@pytest.fixture
def gateway(config_file: Path) -> Iterator[tuple[Path, str]]:
    """Start and stop `gamegate serve` processes on the config; yield the base URL."""
    settings = yaml.safe_load(config_file.read_text())
    base = f"http://127.0.0.1:{settings['listen']['port']}"
    yield config_file, base
    subprocess.run(["pkill", "-f", str(config_file)], check=False)


def start(config_file: Path, base: str) -> subprocess.Popen[bytes]:
    """Start `gamegate serve` on the config and wait until it answers."""
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve", "--config", str(config_file)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=0.5).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the gateway did not start")


def round_body(number: int) -> bytes:
    """Return the signed-to-be body of one bet-and-win round."""
    return orjson.dumps(
        {
            "user_id": "casino-a:player-1",
            "currency": "EUR",
            "game": "example-studio:fruit-reels",
            "game_id": f"round-{number}",
            "finished": True,
            "actions": [
                {"action": "bet", "action_id": f"bet-{number}", "amount": 100 + number},
                {"action": "win", "action_id": f"win-{number}", "amount": 3 * number},
            ],
        }
    )


async def send_all(base: str, bodies: list[bytes], stop_after: int | None) -> int:
    """Send every body; stop early once `stop_after` were answered."""
    answered = 0
    gate = asyncio.Semaphore(8)
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:

        async def send(body: bytes) -> None:
            nonlocal answered
            async with gate:
                try:
                    response = await client.post(
                        "/providers/studio-direct/play",
                        content=body,
                        headers={"X-REQUEST-SIGN": hmac_sha256_hex(TOKEN, body)},
                    )
                except httpx.TransportError:
                    return
                if response.status_code == 200:
                    answered += 1

        tasks = [asyncio.create_task(send(body)) for body in bodies]
        if stop_after is None:
            await asyncio.gather(*tasks)
            return answered
        while answered < stop_after:
            await asyncio.sleep(0.001)
        return answered


def test_sigkill_mid_burst_then_retries_apply_every_callback_exactly_once(
    gateway: tuple[Path, str],
) -> None:
    """After a kill and the provider's retries, each action is applied once."""
    config_file, base = gateway
    bodies = [round_body(number) for number in range(ROUNDS)]
    funding = 1_000_000

    first = start(config_file, base)
    httpx.post(
        f"{base}/v1/wallet/transfers",
        headers={"Authorization": f"Bearer {API_KEY}"},
        json={
            "player": "player-1",
            "currency": "EUR",
            "amount": "10000.00",
            "direction": "credit",
            "reference": "funding-1",
        },
    ).raise_for_status()

    async def burst_then_kill() -> int:
        sender = asyncio.create_task(send_all(base, bodies, stop_after=ROUNDS // 4))
        answered = await sender
        os.kill(first.pid, signal.SIGKILL)
        return answered

    answered_before_kill = asyncio.run(burst_then_kill())
    first.wait(timeout=10)

    second = start(config_file, base)
    answered_after = asyncio.run(send_all(base, bodies, stop_after=None))
    second.terminate()
    second.wait(timeout=10)

    database = yaml.safe_load(config_file.read_text())["database"].removeprefix(
        "sqlite:///"
    )
    with sqlite3.connect(database) as connection:
        rows = connection.execute(
            "SELECT operation, amount FROM transactions"
            " WHERE provider = 'studio-direct'"
        ).fetchall()
        (balance,) = connection.execute("SELECT amount FROM balances").fetchone()

    expected = funding + sum(3 * n - (100 + n) for n in range(ROUNDS))
    assert 0 < answered_before_kill < ROUNDS
    assert answered_after == ROUNDS
    assert len(rows) == 2 * ROUNDS
    assert balance == expected
