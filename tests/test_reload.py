"""Reload without downtime, and the admin API that drives and shows it.

The gateway runs from a config file on disk, as `gamegate serve` does;
tests rewrite the file and reload it through `POST /admin/reload`, through
`SIGHUP` in a real `gamegate serve` process, and under a stream of launches
and wallet callbacks over real loopback HTTP.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestClient
from structlog.testing import capture_logs

from examples.softswiss_simulator.client import StudioClient
from examples.softswiss_simulator.studio import Fault, Studio
from gateway.app import RUNTIME, build_app
from gateway.config import parse_config
from gateway.plugins import AdapterRegistry, load_adapters
from gateway.reload import load_versioned

API_KEY = "casino-a-test-key-0123456789"
ADMIN_KEY = "admin-test-key-0123456789"
TOKEN = "studio-secret"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
GAME = "example-studio:fruit-reels"

Gateway = TestClient[web.Request, web.Application]


@pytest.fixture(scope="module")
def registry() -> AdapterRegistry:
    """The adapters installed with gamegate."""
    return load_adapters()


@pytest.fixture
async def studios() -> AsyncIterator[dict[str, Studio]]:
    """Three studio simulators on loopback, with their URLs in `urls`."""
    found = {name: Studio(TOKEN) for name in ("studio-a", "studio-b", "studio-c")}
    async with (
        found["studio-a"].serve() as url_a,
        found["studio-b"].serve() as url_b,
        found["studio-c"].serve() as url_c,
    ):
        STUDIO_URLS.update({"studio-a": url_a, "studio-b": url_b, "studio-c": url_c})
        yield found


STUDIO_URLS: dict[str, str] = {}


def document(
    tmp_path: Path,
    use: str,
    *,
    instances: tuple[str, ...] = ("studio-a", "studio-b"),
    admin: bool = True,
    **extra: Any,
) -> dict[str, Any]:
    """Return a config whose one rule sends every game to `use`."""
    data: dict[str, Any] = {
        "database": f"sqlite:///{tmp_path / 'gamegate.db'}",
        "operators": [{"name": "casino-a", "api_keys": [API_KEY]}],
        "providers": {
            name: {
                "adapter": "softswiss",
                "base_url": STUDIO_URLS.get(name, "http://127.0.0.1:9"),
                "auth_token": TOKEN,
                "casino_id": "casino-a",
            }
            for name in instances
        },
        "routes": {"games": [{"match": {"game": "example-studio:*"}, "use": use}]},
        **extra,
    }
    if admin:
        data["admin"] = {"api_keys": [ADMIN_KEY]}
    return data


def write(path: Path, data: dict[str, Any] | str) -> None:
    """Replace the config file in one step, as an editor saving it would."""
    text = data if isinstance(data, str) else yaml.safe_dump(data)
    partial = path.with_suffix(".partial")
    partial.write_text(text)
    partial.replace(path)


MakeGateway = Callable[[dict[str, Any]], Awaitable[Gateway]]


@pytest.fixture
def make_gateway(
    aiohttp_client: Any, tmp_path: Path, registry: AdapterRegistry
) -> MakeGateway:
    """Start the gateway from a config file written with the given data."""

    async def make(data: dict[str, Any]) -> Gateway:
        path = tmp_path / "gamegate.yaml"
        write(path, data)
        config, _ = load_versioned(path, registry, {})
        client: Gateway = await aiohttp_client(
            build_app(config, registry, config_path=path, environ={})
        )
        return client

    return make


async def launch(gateway: Gateway, player: str = "player-1", **extra: Any) -> Any:
    """Launch the test game and return the answer's document."""
    answer = await gateway.post(
        "/v1/sessions",
        headers=AUTH,
        json={"player": player, "game": GAME, "currency": "EUR", **extra},
    )
    assert answer.status == 201, await answer.text()
    return await answer.json()


async def reload(gateway: Gateway, **headers: str) -> tuple[int, Any]:
    """Ask the gateway to reload its file; return the status and answer."""
    answer = await gateway.post("/admin/reload", headers={**ADMIN, **headers})
    return answer.status, await answer.json()


async def test_reload_moves_new_launches_and_keeps_sessions_pinned(
    make_gateway: MakeGateway, tmp_path: Path, studios: dict[str, Studio]
) -> None:
    """After a reload new launches follow the new route; old sessions keep theirs."""
    gateway = await make_gateway(document(tmp_path, "studio-a"))
    await fund(gateway, "player-1")
    before = await launch(gateway)

    write(tmp_path / "gamegate.yaml", document(tmp_path, "studio-b"))
    status, answer = await reload(gateway)
    after = await launch(gateway)
    session = await gateway.get(f"/v1/sessions/{before['session_id']}", headers=AUTH)
    async with StudioClient(
        f"{gateway.make_url('/providers/studio-a/')}", TOKEN, seed=1
    ) as studio:
        played = await studio.play_round("casino-a:player-1", "EUR")

    assert status == 200 and answer["reloaded"]
    assert before["provider"] == "studio-a" and after["provider"] == "studio-b"
    assert (await session.json())["provider"] == "studio-a"
    assert all(reply.ok for reply in played.answers)


@pytest.mark.parametrize(
    ("content", "named"),
    [
        ("providers: [unclosed", "is not valid YAML"),
        ({"colour": "blue"}, "colour: unknown key"),
        ({"routes": {"games": [{"use": "nowhere"}]}}, "routes.games.0.use"),
        ({"admin": {"api_keys": ["short"]}}, "admin.api_keys"),
        (
            {"database": "sqlite:///elsewhere.db"},
            "database: changing this needs a restart",
        ),
        (
            {"wallet": {"mode": "operator", "url": "http://w", "secret": "s" * 20}},
            "wallet",
        ),
    ],
)
async def test_refused_file_leaves_the_running_config_in_force(
    make_gateway: MakeGateway,
    tmp_path: Path,
    studios: dict[str, Studio],
    content: dict[str, Any] | str,
    named: str,
) -> None:
    """A file that fails validation or needs a restart changes nothing, and says why."""
    gateway = await make_gateway(document(tmp_path, "studio-a"))
    version = await (await gateway.get("/admin/config", headers=ADMIN)).json()

    bad = (
        content
        if isinstance(content, str)
        else {**document(tmp_path, "studio-b"), **content}
    )
    write(tmp_path / "gamegate.yaml", bad)
    with capture_logs() as logs:
        status, answer = await reload(gateway)
    still = await (await gateway.get("/admin/config", headers=ADMIN)).json()

    assert status == 422
    assert answer["error"]["code"] == "config_error"
    assert named in answer["error"]["message"]
    assert still == version
    assert (await launch(gateway))["provider"] == "studio-a"
    refused = [line for line in logs if line["event"] == "config.reload_refused"]
    assert refused and named in refused[0]["reason"]


async def test_reload_is_logged_with_the_config_version(
    make_gateway: MakeGateway, tmp_path: Path, studios: dict[str, Studio]
) -> None:
    """Every reload logs the version it put in force and the one it replaced."""
    gateway = await make_gateway(document(tmp_path, "studio-a"))
    write(tmp_path / "gamegate.yaml", document(tmp_path, "studio-b"))
    content = (tmp_path / "gamegate.yaml").read_bytes()

    with capture_logs() as logs:
        status, answer = await reload(gateway)

    reloaded = [line for line in logs if line["event"] == "config.reloaded"]
    expected = hashlib.sha256(content).hexdigest()[:16]
    assert status == 200
    assert answer["version"]["hash"] == reloaded[0]["config_version"] == expected
    assert reloaded[0]["previous_version"] != expected


async def test_unchanged_provider_keeps_its_pool_and_breaker(
    make_gateway: MakeGateway, tmp_path: Path, studios: dict[str, Studio]
) -> None:
    """A reload that changes only routes keeps each instance; a changed one is new."""
    gateway = await make_gateway(document(tmp_path, "studio-a"))
    runtime = gateway.app[RUNTIME]
    kept, changed = (
        runtime.snapshot.providers[name] for name in ("studio-a", "studio-b")
    )
    for _ in range(kept.breaker.threshold):
        kept.breaker.failed(kept.breaker.admit())

    data = document(tmp_path, "studio-b")
    data["providers"]["studio-b"]["max_concurrency"] = 7
    write(tmp_path / "gamegate.yaml", data)
    await reload(gateway)
    await asyncio.sleep(0)

    assert runtime.snapshot.providers["studio-a"] is kept
    assert kept.breaker.state.value == "open"
    assert runtime.snapshot.providers["studio-b"] is not changed
    assert changed.closed and not kept.closed


async def test_removed_provider_closes_after_its_in_flight_launch_drains(
    make_gateway: MakeGateway, tmp_path: Path, studios: dict[str, Studio]
) -> None:
    """A launch in flight on a removed instance finishes; then its client closes."""
    instances = ("studio-a", "studio-b", "studio-c")
    gateway = await make_gateway(document(tmp_path, "studio-a", instances=instances))
    removed = gateway.app[RUNTIME].snapshot.providers["studio-c"]
    studios["studio-c"].inject(Fault.slow(1.5))

    in_flight = asyncio.create_task(launch(gateway, provider="studio-c"))
    while not studios["studio-c"].received["sessions"]:
        await asyncio.sleep(0.01)
    write(tmp_path / "gamegate.yaml", document(tmp_path, "studio-b"))
    status, _ = await reload(gateway)
    open_while_in_flight = not removed.closed
    finished = await in_flight
    for _ in range(100):
        if removed.closed:
            break
        await asyncio.sleep(0.01)

    assert status == 200
    assert open_while_in_flight
    assert finished["provider"] == "studio-c"
    assert removed.closed
    assert "studio-c" not in gateway.app[RUNTIME].snapshot.providers


class TestAdminApi:
    async def test_admin_api_is_off_without_a_key(
        self, make_gateway: MakeGateway, tmp_path: Path, studios: dict[str, Studio]
    ) -> None:
        """Without `admin.api_keys` every admin route answers 404."""
        gateway = await make_gateway(document(tmp_path, "studio-a", admin=False))

        answers = [
            await gateway.get(path, headers=ADMIN)
            for path in ("/admin/providers", "/admin/routes", "/admin/config")
        ]
        posted = await gateway.post("/admin/reload", headers=ADMIN)

        assert [answer.status for answer in answers] == [404, 404, 404]
        assert posted.status == 404

    @pytest.mark.parametrize(
        "headers",
        [
            {},
            {"Authorization": "Bearer wrong-key-0123456789"},
            AUTH,
            {"Cookie": f"key={ADMIN_KEY}"},
        ],
    )
    async def test_admin_api_needs_its_own_key_in_a_header(
        self,
        make_gateway: MakeGateway,
        tmp_path: Path,
        studios: dict[str, Studio],
        headers: dict[str, str],
    ) -> None:
        """No key, a wrong key, an operator key or a cookie is refused with 401."""
        gateway = await make_gateway(document(tmp_path, "studio-a"))

        answer = await gateway.get("/admin/providers", headers=headers)
        posted = await gateway.post("/admin/reload", headers=headers)

        assert answer.status == posted.status == 401

    @pytest.mark.parametrize(
        ("origin", "status"),
        [("https://evil.example", 403), ("null", 403), (None, 200), ("same", 200)],
    )
    async def test_reload_refuses_cross_site_requests(
        self,
        make_gateway: MakeGateway,
        tmp_path: Path,
        studios: dict[str, Studio],
        origin: str | None,
        status: int,
    ) -> None:
        """`POST /admin/reload` with an `Origin` from another site is refused."""
        gateway = await make_gateway(document(tmp_path, "studio-a"))
        headers = {"X-Admin-Key": ADMIN_KEY}
        if origin == "same":
            headers["Origin"] = f"http://{gateway.host}:{gateway.port}"
        elif origin is not None:
            headers["Origin"] = origin

        answer = await gateway.post("/admin/reload", headers=headers)

        assert answer.status == status

    async def test_admin_answers_show_state_and_never_a_secret(
        self, make_gateway: MakeGateway, tmp_path: Path, studios: dict[str, Studio]
    ) -> None:
        """Providers, routes and config version are shown; no key or token is."""
        gateway = await make_gateway(document(tmp_path, "studio-a"))
        content = (tmp_path / "gamegate.yaml").read_bytes()

        bodies = {
            path: await (await gateway.get(path, headers=ADMIN)).text()
            for path in ("/admin/providers", "/admin/routes", "/admin/config")
        }

        for body in bodies.values():
            assert API_KEY not in body and ADMIN_KEY not in body and TOKEN not in body
        providers = yaml.safe_load(bodies["/admin/providers"])["providers"]
        assert providers["studio-a"]["breaker"]["state"] == "closed"
        assert providers["studio-a"]["healthy"] is True
        routes = yaml.safe_load(bodies["/admin/routes"])
        assert routes["rules"][0]["use"] == "studio-a"
        version = yaml.safe_load(bodies["/admin/config"])["version"]
        assert version["hash"] == hashlib.sha256(content).hexdigest()[:16]
        assert version["loaded_at"]

    async def test_reload_needs_a_config_file(
        self, aiohttp_client: Any, tmp_path: Path, registry: AdapterRegistry
    ) -> None:
        """A gateway built from data in memory has no file to reload."""
        config = parse_config(document(tmp_path, "studio-a"), registry, {})
        gateway: Gateway = await aiohttp_client(build_app(config, registry))

        status, answer = await reload(gateway)

        assert status == 422
        assert "config file" in answer["error"]["message"]


async def fund(gateway: Gateway | httpx.AsyncClient, player: str) -> None:
    """Credit a player 1000.00 EUR through the operator API."""
    answer = await gateway.post(
        "/v1/wallet/transfers",
        headers=AUTH,
        json={
            "player": player,
            "currency": "EUR",
            "amount": "1000.00",
            "direction": "credit",
            "reference": f"fund-{player}",
        },
    )
    status = answer.status_code if isinstance(answer, httpx.Response) else answer.status
    assert status == 200


async def test_reload_under_load_fails_no_request(
    tmp_path: Path, registry: AdapterRegistry, studios: dict[str, Studio]
) -> None:
    """Launches and callbacks flow through six reloads, one of them refused."""
    path = tmp_path / "gamegate.yaml"
    write(path, document(tmp_path, "studio-a"))
    config, _ = load_versioned(path, registry, {})
    runner = web.AppRunner(
        build_app(config, registry, config_path=path, environ={}), access_log=None
    )
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    failures: list[str] = []
    sessions: list[tuple[str, str]] = []
    stop = asyncio.Event()

    async def player(number: int, http: httpx.AsyncClient) -> None:
        name = f"player-{number}"
        await fund(http, name)
        callbacks = {
            instance: StudioClient(
                f"{base}/providers/{instance}/",
                TOKEN,
                seed=number,
                id_prefix=f"w{number}",
            )
            for instance in ("studio-a", "studio-b")
        }
        while not stop.is_set():
            answer = await http.post(
                "/v1/sessions",
                headers=AUTH,
                json={"player": name, "game": GAME, "currency": "EUR"},
            )
            if answer.status_code != 201:
                failures.append(f"launch {answer.status_code}: {answer.text}")
                continue
            instance = answer.json()["provider"]
            sessions.append((name, instance))
            played = await callbacks[instance].play_round(f"casino-a:{name}", "EUR")
            if not all(reply.ok for reply in played.answers):
                failures.append(f"callback refused on {instance}")
        for client in callbacks.values():
            await client.aclose()

    steps = ["studio-b", "studio-a", "invalid", "studio-b", "studio-a", "studio-b"]
    statuses = []
    try:
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            workers = [asyncio.create_task(player(n, http)) for n in range(6)]
            await at_least(sessions, 6)
            for step in steps:
                if step == "invalid":
                    write(path, {**document(tmp_path, "studio-a"), "colour": "blue"})
                else:
                    write(path, document(tmp_path, step))
                answer = await http.post("/admin/reload", headers=ADMIN)
                statuses.append(answer.status_code)
                await at_least(sessions, len(sessions) + 6)
            stop.set()
            await asyncio.gather(*workers)

            latest = await http.post(
                "/v1/sessions",
                headers=AUTH,
                json={"player": "player-0", "game": GAME, "currency": "EUR"},
            )
            on_a = next(name for name, instance in sessions if instance == "studio-a")
            async with StudioClient(
                f"{base}/providers/studio-a/", TOKEN, seed=99, id_prefix="late"
            ) as late:
                settled = await late.play_round(f"casino-a:{on_a}", "EUR")
    finally:
        await runner.cleanup()

    assert failures == []
    assert statuses == [200, 200, 422, 200, 200, 200]
    assert len(sessions) >= 42
    assert {instance for _, instance in sessions} == {"studio-a", "studio-b"}
    assert latest.json()["provider"] == "studio-b"
    assert all(reply.ok for reply in settled.answers)


async def at_least(items: list[Any], count: int) -> None:
    """Wait until a growing list holds `count` items, giving up after 60 seconds."""
    async with asyncio.timeout(60):
        while len(items) < count:
            await asyncio.sleep(0.01)


def free_port() -> int:
    """Return a loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_sighup_reloads_the_config_file(tmp_path: Path) -> None:
    """`gamegate serve` reloads on SIGHUP, and keeps its config when the file is bad."""
    path, port = tmp_path / "gamegate.yaml", free_port()
    write(path, {**document(tmp_path, "studio-a"), "logging": {"format": "json"}})
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gateway",
            "serve",
            "--config",
            str(path),
            "--port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    url = f"http://127.0.0.1:{port}/admin/config"
    try:
        first = _wait_for(lambda: _version(url), lambda found: found is not None)
        write(path, {**document(tmp_path, "studio-b"), "logging": {"format": "json"}})
        server.send_signal(signal.SIGHUP)
        second = _wait_for(lambda: _version(url), lambda found: found != first)
        write(path, "providers: [unclosed")
        server.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        third = _version(url)
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=30)

    assert first is not None and second != first and third == second
    assert "config.reloaded" in output and "config.reload_refused" in output
    assert second in output


def _version(url: str) -> str | None:
    try:
        answer = httpx.get(url, headers=ADMIN, timeout=2)
    except httpx.TransportError:
        return None
    return str(answer.json()["version"]["hash"]) if answer.status_code == 200 else None


def _wait_for(probe: Callable[[], Any], done: Callable[[Any], bool]) -> Any:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = probe()
        if done(found):
            return found
        time.sleep(0.05)
    raise AssertionError("the gateway did not get there in 30 seconds")
