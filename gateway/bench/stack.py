"""The processes one scenario measures: a gateway and what it talks to.

`Stack` starts, on the load generator's cores, the studio simulator and, in
operator wallet mode, the reference casino wallet; then `gamegate serve` on
the server's cores, with a config of its own and a fresh database. It
launches a game for every benchmark player through the operator API (which
creates their accounts) and funds them, so every bet the generators send
is one the ledger accepts.
"""

from __future__ import annotations

import os
import secrets
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson

from gateway.bench.bodies import CURRENCY, GAME
from gateway.bench.processes import BenchError, Service, free_port
from gateway.operator_wallet import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

OPERATOR = "bench-casino"
PROVIDER = "studio"
PLAYERS = 50
FUNDING = "1000000.00"
FUNDING_MINOR = 100_000_000
CALLBACK_PATH = f"/providers/{PROVIDER}/play"


@dataclass(frozen=True)
class Layout:
    """Which cores the servers under test get, and which the load gets."""

    server: set[int] | None
    load: set[int] | None


@dataclass
class Stack:
    """A running gateway and its upstreams, with what is needed to load it."""

    url: str
    api_key: str
    auth_token: str
    players: list[str]
    gateway: Service
    upstreams: list[Service] = field(default_factory=list)

    @property
    def callback_url(self) -> str:
        """Where the studio's `/play` callbacks go."""
        return self.url + CALLBACK_PATH

    @property
    def launch_url(self) -> str:
        """Where the operator API launches games."""
        return self.url + "/v1/sessions"

    def metrics(self) -> str:
        """Return the gateway's `/metrics` page."""
        return httpx.get(self.url + "/metrics", timeout=10.0).text

    @property
    def pids(self) -> list[int]:
        """Every process of the stack: the gateway's first."""
        return [self.gateway.pid, *(service.pid for service in self.upstreams)]


def python(*arguments: str) -> list[str]:
    """Return the command line of a module run by this interpreter."""
    return [sys.executable, "-m", *arguments]


@contextmanager
def gateway_stack(
    name: str,
    folder: Path,
    layout: Layout,
    *,
    wallet: str = "builtin",
    database: str | None = None,
    workers: int = 1,
    logs: Path | None = None,
    wallet_folder: Path | None = None,
    players: int = PLAYERS,
) -> Iterator[Stack]:
    """Start a gateway with its studio (and wallet), accounts ready; stop all.

    Databases, configs and request files go in `folder`, the casino wallet's
    database in `wallet_folder` (by default `folder` too); the processes'
    output goes in `logs`, which may outlive them.
    """
    logs = logs or folder
    wallet_folder = wallet_folder or folder
    auth_token = secrets.token_hex(16)
    api_key = secrets.token_urlsafe(24)
    names = [f"p{number:04d}" for number in range(players)]
    with ExitStack() as stack:
        studio_port = free_port()
        studio = stack.enter_context(
            Service(
                f"{name}-studio",
                python(
                    "examples.softswiss_simulator",
                    "serve",
                    "--auth-token",
                    auth_token,
                    "--port",
                    str(studio_port),
                    "--casino-id",
                    OPERATOR,
                ),
                logs,
                cores=layout.load,
                port=studio_port,
            )
        )
        upstreams = [studio]
        settings: dict[str, object] = {"mode": "builtin"}
        wallet_url = wallet_secret = ""
        if wallet == "operator":
            wallet_secret = secrets.token_urlsafe(24)
            wallet_port = free_port()
            wallet_url = f"http://127.0.0.1:{wallet_port}"
            upstreams.append(
                stack.enter_context(
                    Service(
                        f"{name}-wallet",
                        python(
                            "examples.operator_wallet",
                            "serve",
                            "--db",
                            str(wallet_folder / f"{name}-wallet.db"),
                            "--port",
                            str(wallet_port),
                        ),
                        logs,
                        cores=layout.load,
                        env=_environ(OPERATOR_WALLET_SECRET=wallet_secret),
                        port=wallet_port,
                    )
                )
            )
            settings = {"mode": "operator", "url": wallet_url, "secret": wallet_secret}
            _fund_wallet(wallet_url, wallet_secret, names)

        port = free_port()
        config = folder / f"{name}.yaml"
        config.write_bytes(
            orjson.dumps(
                _config(
                    database or f"sqlite:///{folder / (name + '.db')}",
                    port,
                    settings,
                    api_key,
                    auth_token,
                    f"http://127.0.0.1:{studio_port}",
                ),
                option=orjson.OPT_INDENT_2,
            )
        )
        command = python("gateway", "serve", "--config", str(config))
        if workers > 1:
            command += ["--workers", str(workers)]
        url = f"http://127.0.0.1:{port}"
        gateway = stack.enter_context(
            Service(
                f"{name}-gateway",
                command,
                logs,
                cores=layout.server,
                ready_url=url + "/readyz",
            )
        )
        ready = Stack(url, api_key, auth_token, names, gateway, upstreams)
        _open_accounts(ready, funded=wallet == "builtin")

        yield ready


def _environ(**values: str) -> dict[str, str]:
    return {**os.environ, **values}


def _config(
    database: str,
    port: int,
    wallet: dict[str, object],
    api_key: str,
    auth_token: str,
    studio_url: str,
) -> dict[str, object]:
    return {
        "database": database,
        "listen": {"host": "127.0.0.1", "port": port},
        "wallet": wallet,
        "logging": {"format": "json", "level": "info"},
        "operators": [{"name": OPERATOR, "api_keys": [api_key]}],
        "providers": {
            PROVIDER: {
                "adapter": "softswiss",
                "base_url": studio_url,
                "auth_token": auth_token,
                "casino_id": OPERATOR,
            }
        },
        "routes": {"games": [{"games": ["example-studio:*"], "use": PROVIDER}]},
    }


def _open_accounts(stack: Stack, *, funded: bool) -> None:
    headers = {"Authorization": f"Bearer {stack.api_key}"}
    with httpx.Client(base_url=stack.url, headers=headers, timeout=10.0) as casino:
        for player in stack.players:
            launched = casino.post(
                "/v1/sessions",
                json={"player": player, "game": GAME, "currency": CURRENCY},
            )
            if launched.status_code != 201:
                raise BenchError(f"launch for {player} failed: {launched.text[:200]}")
            if not funded:
                continue
            funding = casino.post(
                "/v1/wallet/transfers",
                json={
                    "player": player,
                    "currency": CURRENCY,
                    "amount": FUNDING,
                    "direction": "credit",
                    "reference": f"bench-funding-{player}",
                },
            )
            if funding.status_code != 200:
                raise BenchError(f"funding {player} failed: {funding.text[:200]}")


def _fund_wallet(url: str, secret: str, players: list[str]) -> None:
    with httpx.Client(base_url=url, timeout=10.0) as client:
        for player in players:
            body = orjson.dumps(
                {
                    "operator": OPERATOR,
                    "player": player,
                    "currency": CURRENCY,
                    "balance": FUNDING_MINOR,
                }
            )
            timestamp = str(int(time.time()))
            answer = client.post(
                "/admin/players",
                content=body,
                headers={
                    TIMESTAMP_HEADER: timestamp,
                    SIGNATURE_HEADER: sign(secret, timestamp, body),
                    "Content-Type": "application/json",
                },
            )
            if answer.status_code != 200:
                raise BenchError(f"the wallet refused {player}: {answer.text[:200]}")


def player_refs(stack: Stack) -> list[str]:
    """Return the player references the studio uses in callbacks."""
    return [f"{OPERATOR}:{player}" for player in stack.players]
