"""Resilience: breaker, concurrency cap, timeouts, retries, fallback, metrics.

The breaker is tested on its own with a fake clock; the transport with
httpx's mock transport behind it; everything else end to end, with the
gateway on loopback in front of studio simulators that misbehave on
purpose and count every request that reaches them.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import suppress
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from structlog.testing import capture_logs

from adapters.softswiss import SoftswissAdapter
from contracts.errors import ConfigError
from contracts.launch import LaunchRequest
from contracts.signing import hmac_sha256_hex
from examples.softswiss_simulator.__main__ import parse_fault
from examples.softswiss_simulator.studio import Fault, Studio
from gateway.app import RUNTIME, build_app
from gateway.breaker import Breaker, BreakerState, CircuitOpen
from gateway.config import Config, parse_config
from gateway.metrics import Metrics
from gateway.plugins import AdapterRegistry, load_adapters
from gateway.resilience import CallFailed, Provider, call_scope
from gateway.routing import RouteQuery, Router

API_KEY = "casino-a-test-key-0123456789"
ADMIN_KEY = "admin-test-key-0123456789"
TOKEN = "studio-secret"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
GAME = "example-studio:fruit-reels"
FAST = {"retries": {"backoff_seconds": 0, "max_backoff_seconds": 0}}

Gateway = TestClient[web.Request, web.Application]


@pytest.fixture(scope="module")
def registry() -> AdapterRegistry:
    """The adapters installed with gamegate."""
    return load_adapters()


class FakeClock:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class TestBreaker:
    def test_opens_after_a_run_of_consecutive_failures(self) -> None:
        """Only an unbroken run of `failures` failures opens the breaker."""
        breaker = Breaker(3, 10.0, clock=FakeClock())
        for _ in range(2):
            breaker.failed(breaker.admit())
        breaker.succeeded(breaker.admit())
        for _ in range(2):
            breaker.failed(breaker.admit())

        assert breaker.state is BreakerState.CLOSED
        breaker.failed(breaker.admit())
        assert breaker.state is BreakerState.OPEN

    def test_open_breaker_refuses_until_the_cooldown_ends(self) -> None:
        """Open, every request is refused; after the cool-down it is half-open."""
        clock = FakeClock()
        breaker = Breaker(1, 10.0, clock=clock)
        breaker.failed(breaker.admit())

        clock.now += 9.9
        with pytest.raises(CircuitOpen):
            breaker.admit()
        clock.now += 0.1

        assert breaker.state is BreakerState.HALF_OPEN

    def test_half_open_admits_exactly_one_probe(self) -> None:
        """While the probe is in flight every other request is refused at once."""
        clock = FakeClock()
        breaker = Breaker(1, 5.0, clock=clock)
        breaker.failed(breaker.admit())
        clock.now += 5

        probe = breaker.admit()
        refused = 0
        for _ in range(10):
            with pytest.raises(CircuitOpen):
                breaker.admit()
            refused += 1

        assert probe.probe
        assert refused == 10

    def test_probe_success_closes_and_failure_reopens(self) -> None:
        """The probe's answer decides: success closes, failure opens again."""
        clock = FakeClock()
        breaker = Breaker(1, 5.0, clock=clock)
        breaker.failed(breaker.admit())
        clock.now += 5
        breaker.failed(breaker.admit())

        assert breaker.state is BreakerState.OPEN
        clock.now += 4.9
        assert breaker.state is BreakerState.OPEN
        clock.now += 0.1
        breaker.succeeded(breaker.admit())
        assert breaker.state is BreakerState.CLOSED
        assert breaker.failures == 0

    def test_abandoned_probe_lets_the_next_request_probe(self) -> None:
        """A probe that never reached the provider leaves room for another."""
        clock = FakeClock()
        breaker = Breaker(1, 5.0, clock=clock)
        breaker.failed(breaker.admit())
        clock.now += 5
        breaker.abandoned(breaker.admit())

        assert breaker.admit().probe

    def test_late_results_of_an_earlier_state_are_ignored(self) -> None:
        """A request admitted before the breaker opened cannot close it."""
        clock = FakeClock()
        breaker = Breaker(1, 5.0, clock=clock)
        early = breaker.admit()
        breaker.failed(breaker.admit())
        breaker.succeeded(early)

        assert breaker.state is BreakerState.OPEN

    def test_state_changes_are_reported(self) -> None:
        """Every transition reaches the callback, in order."""
        clock, seen = FakeClock(), []
        breaker = Breaker(1, 5.0, clock=clock, on_change=seen.append)
        breaker.failed(breaker.admit())
        clock.now += 5
        breaker.succeeded(breaker.admit())

        assert seen == [BreakerState.OPEN, BreakerState.HALF_OPEN, BreakerState.CLOSED]


def config(registry: AdapterRegistry, **policy: Any) -> Config:
    """Return a config with one studio instance `a` and the given policy keys."""
    return parse_config(
        {
            "operators": [{"name": "casino-a", "api_keys": [API_KEY]}],
            "providers": {
                "a": {
                    "adapter": "softswiss",
                    "base_url": "http://studio.test",
                    "auth_token": TOKEN,
                    "casino_id": "casino-a",
                    **policy,
                }
            },
        },
        registry,
        {},
    )


Handler = Callable[[httpx.Request], Awaitable[httpx.Response]]


def provider(
    registry: AdapterRegistry, handler: Handler, **policy: Any
) -> tuple[Provider, Metrics]:
    """Return instance `a` over a mock transport answering with `handler`."""
    metrics = Metrics(providers=["a"])
    setup = config(registry, **policy)
    built = Provider(
        "a",
        setup.providers["a"],
        SoftswissAdapter,
        setup.currency_table(),
        metrics,
        inner=httpx.MockTransport(handler),
    )
    return built, metrics


def launched(request: httpx.Request) -> httpx.Response:
    """Return the studio's signed answer to a launch."""
    body = orjson.dumps({"launch_options": {"game_url": "https://studio.test/play/1"}})
    return httpx.Response(
        200, content=body, headers={"X-REQUEST-SIGN": hmac_sha256_hex(TOKEN, body)}
    )


def launch_request(player: str = "casino-a:p-1", game: str = GAME) -> LaunchRequest:
    """Return a launch for one player and game."""
    return LaunchRequest(session_token="t", player=player, game=game, currency="EUR")


async def launch(built: Provider, request: LaunchRequest | None = None) -> Any:
    """Launch through the instance's resilience, as the gateway does."""
    call = partial(built.adapter.launch, request or launch_request())
    return await built.call("launch", call, safe=False)


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    """Return one sample's value, 0 when it was never recorded."""
    return metrics.registry.get_sample_value(name, labels) or 0.0


class TestTransport:
    @pytest.mark.parametrize(
        ("answer", "outcome", "breaker_failure"),
        [
            (200, "ok", False),
            (404, "client_error", False),
            (429, "rate_limited", False),
            (500, "server_error", True),
            (503, "server_error", True),
            (httpx.ConnectError("refused"), "connect_error", True),
            (httpx.ConnectTimeout("slow"), "connect_timeout", True),
            (httpx.ReadTimeout("slow"), "timeout", True),
            (httpx.RemoteProtocolError("reset"), "transport_error", True),
        ],
    )
    async def test_each_outcome_is_counted_and_only_failures_trip(
        self,
        registry: AdapterRegistry,
        answer: int | Exception,
        outcome: str,
        breaker_failure: bool,
    ) -> None:
        """Timeouts, connection failures and 5xx count against the breaker."""

        async def handler(request: httpx.Request) -> httpx.Response:
            if isinstance(answer, Exception):
                raise answer
            return launched(request) if answer == 200 else httpx.Response(answer)

        built, metrics = provider(registry, handler, retries={"attempts": 1})

        with suppress(CallFailed):
            await launch(built)

        labels = {"provider": "a", "operation": "launch", "outcome": outcome}
        assert sample(metrics, "provider_requests_total", **labels) == 1
        assert built.breaker.failures == (1 if breaker_failure else 0)

    async def test_client_errors_never_open_the_breaker(
        self, registry: AdapterRegistry
    ) -> None:
        """A long run of 4xx and 429 answers leaves the breaker closed."""

        async def handler(request: httpx.Request) -> httpx.Response:
            return httpx.Response(429 if len(seen) % 2 else 400)

        seen: list[int] = []
        built, _ = provider(registry, handler, breaker={"failures": 2})
        for _ in range(20):
            seen.append(1)
            with pytest.raises(CallFailed):
                await launch(built)

        assert built.breaker.state is BreakerState.CLOSED

    @pytest.mark.parametrize(
        ("policy", "operation", "own", "connect", "total"),
        [
            ({}, "launch", 5.0, 3.0, 5.0),
            ({"timeouts": {"connect": 1, "total": 4}}, "launch", 5.0, 1.0, 4.0),
            ({"timeouts": {"launch": {"total": 2}}}, "launch", 5.0, 2.0, 2.0),
            ({"timeouts": {"launch": {"total": 2}}}, "list_games", 30.0, 3.0, 10.0),
            ({"timeouts": {"total": 9}}, "list_games", 1.5, 1.5, 1.5),
        ],
    )
    async def test_timeouts_of_the_operation_are_applied(
        self,
        registry: AdapterRegistry,
        policy: dict[str, Any],
        operation: str,
        own: float,
        connect: float,
        total: float,
    ) -> None:
        """Each call gets its operation's timeouts; the adapter's may only tighten."""
        seen: list[dict[str, float]] = []

        async def handler(request: httpx.Request) -> httpx.Response:
            seen.append(request.extensions["timeout"])
            return launched(request)

        built, _ = provider(registry, handler, **policy)
        with call_scope(operation):
            await built.client.get("http://studio.test/x", timeout=own)

        assert seen[0]["connect"] == connect
        assert seen[0]["read"] == total

    async def test_total_timeout_bounds_a_provider_that_never_answers(
        self, registry: AdapterRegistry
    ) -> None:
        """A hanging call ends at the total timeout, as an unknown outcome."""

        async def handler(request: httpx.Request) -> httpx.Response:
            await asyncio.Event().wait()
            raise AssertionError("unreachable")

        built, _ = provider(registry, handler, timeouts={"total": 0.2})

        with pytest.raises(CallFailed) as failed:
            await launch(built)

        assert failed.value.reached and not failed.value.fallback_safe
        assert failed.value.outcomes == ["timeout"]
        assert built.transport.in_flight == 0

    async def test_concurrency_cap_fails_calls_that_find_no_slot(
        self, registry: AdapterRegistry
    ) -> None:
        """Over the cap a call waits the connect timeout, then fails unsent."""
        gate = asyncio.Event()
        peak = []

        async def handler(request: httpx.Request) -> httpx.Response:
            peak.append(built.transport.in_flight)
            await gate.wait()
            return launched(request)

        built, _ = provider(
            registry, handler, max_concurrency=2, timeouts={"connect": 0.2}
        )
        first = [asyncio.create_task(launch(built)) for _ in range(2)]
        await asyncio.sleep(0.05)

        with pytest.raises(CallFailed) as failed:
            await launch(built)
        gate.set()
        done = await asyncio.gather(*first)

        assert failed.value.outcomes == ["busy"] and failed.value.fallback_safe
        assert max(peak) == 2
        assert all(result.url for result in done)
        assert built.transport.in_flight == 0


def free_port() -> int:
    """Return a loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def instance(url: str, **policy: Any) -> dict[str, Any]:
    """Return one softswiss instance's config at `url`, with fast retries."""
    merged = {**FAST, **policy}
    merged["retries"] = {**FAST["retries"], **policy.get("retries", {})}
    return {
        "adapter": "softswiss",
        "base_url": url,
        "auth_token": TOKEN,
        "casino_id": "casino-a",
        **merged,
    }


MakeGateway = Callable[..., Awaitable[Gateway]]


@pytest.fixture
def make_gateway(
    aiohttp_client: Any, tmp_path: Path, registry: AdapterRegistry
) -> MakeGateway:
    """Build the gateway on loopback from instances and rules."""

    async def make(providers: dict[str, Any], rules: list[dict[str, Any]]) -> Gateway:
        data = {
            "database": f"sqlite:///{tmp_path / 'gamegate.db'}",
            "operators": [{"name": "casino-a", "api_keys": [API_KEY]}],
            "admin": {"api_keys": [ADMIN_KEY]},
            "providers": providers,
            "routes": {"games": rules},
        }
        client: Gateway = await aiohttp_client(
            build_app(parse_config(data, registry, {}), registry)
        )
        return client

    return make


@pytest.fixture
async def studios() -> AsyncIterator[tuple[Studio, Studio, str, str]]:
    """Two studio simulators on loopback, `a` and `b`."""
    first, second = Studio(TOKEN), Studio(TOKEN)
    async with first.serve() as url_a, second.serve() as url_b:
        yield first, second, url_a, url_b


async def post_launch(
    gateway: Gateway, player: str = "player-1", **extra: Any
) -> tuple[int, dict[str, Any]]:
    """Launch the test game for a player; return the status and answer."""
    answer = await gateway.post(
        "/v1/sessions",
        headers=AUTH,
        json={"player": player, "game": GAME, "currency": "EUR", **extra},
    )
    return answer.status, await answer.json()


def metrics_of(gateway: Gateway) -> Metrics:
    """Return the gateway's metrics."""
    return gateway.app[RUNTIME].metrics


async def test_breaker_opens_and_half_opens_with_exactly_one_probe(
    make_gateway: MakeGateway, studios: tuple[Studio, Studio, str, str]
) -> None:
    """Three 500s open it; after the cool-down one probe goes through, alone."""
    studio = studios[0]
    breaker = {"failures": 3, "cooldown_seconds": 0.4}
    gateway = await make_gateway(
        {"a": instance(studios[2], breaker=breaker)}, [{"use": "a"}]
    )
    studio.inject(Fault.error(500), times=3)

    failures = [await post_launch(gateway, f"p-{n}") for n in range(3)]
    refused = await post_launch(gateway, "p-refused")
    admin = await (await gateway.get("/admin/providers", headers=ADMIN)).json()

    assert [status for status, _ in failures] == [503, 503, 503]
    assert refused[0] == 503 and "CircuitOpen" in refused[1]["error"]["message"]
    assert studio.received["sessions"] == 3
    assert admin["providers"]["a"]["breaker"]["state"] == "open"
    assert sample(metrics_of(gateway), "provider_breaker_state", provider="a") == 2

    await asyncio.sleep(0.45)
    studio.inject(Fault.slow(1.0))
    answers = await asyncio.gather(*(post_launch(gateway, f"q-{n}") for n in range(5)))

    assert sorted(status for status, _ in answers) == [201, 503, 503, 503, 503]
    assert studio.received["sessions"] == 4
    metrics = metrics_of(gateway)
    for state in ("open", "half_open", "closed"):
        labels = {"provider": "a", "state": state}
        assert sample(metrics, "provider_breaker_transitions_total", **labels) == 1
    assert sample(metrics, "provider_breaker_state", provider="a") == 0


async def test_failed_probe_opens_the_breaker_again(
    make_gateway: MakeGateway, studios: tuple[Studio, Studio, str, str]
) -> None:
    """A probe answered 500 re-opens the breaker for a fresh cool-down."""
    studio = studios[0]
    breaker = {"failures": 1, "cooldown_seconds": 0.2}
    gateway = await make_gateway(
        {"a": instance(studios[2], breaker=breaker)}, [{"use": "a"}]
    )
    studio.inject(Fault.error(500), times=2)

    await post_launch(gateway, "p-1")
    await asyncio.sleep(0.25)
    probe = await post_launch(gateway, "p-2")
    refused = await post_launch(gateway, "p-3")

    assert probe[0] == refused[0] == 503
    assert studio.received["sessions"] == 2
    labels = {"provider": "a", "state": "open"}
    assert (
        sample(metrics_of(gateway), "provider_breaker_transitions_total", **labels) == 2
    )


async def test_launch_is_retried_only_while_the_connection_fails(
    make_gateway: MakeGateway,
) -> None:
    """Connection refused is tried `attempts` times, then answered 503."""
    url = f"http://127.0.0.1:{free_port()}"
    gateway = await make_gateway(
        {"a": instance(url, retries={"attempts": 3})}, [{"use": "a"}]
    )

    status, _ = await post_launch(gateway)

    metrics = metrics_of(gateway)
    labels = {"provider": "a", "operation": "launch"}
    assert status == 503
    assert (
        sample(metrics, "provider_requests_total", outcome="connect_error", **labels)
        == 3
    )
    assert sample(metrics, "provider_retries_total", **labels) == 2


@pytest.mark.parametrize(
    ("fault", "status"),
    [
        (Fault.reset(), 503),
        (Fault.error(500), 503),
        (Fault.hang(), 503),
        (Fault.error(429, retry_after=1), 502),
        (Fault.error(400), 502),
    ],
)
async def test_launch_that_reached_the_provider_is_neither_retried_nor_moved(
    make_gateway: MakeGateway,
    studios: tuple[Studio, Studio, str, str],
    fault: Fault,
    status: int,
) -> None:
    """Whatever the provider may have done with it, a launch goes there once."""
    first, second, url_a, url_b = studios
    gateway = await make_gateway(
        {
            "a": instance(url_a, timeouts={"total": 0.5}, retries={"attempts": 5}),
            "b": instance(url_b),
        },
        [{"use": "a", "fallback": ["b"]}],
    )
    first.inject(fault)

    answer, _ = await post_launch(gateway)

    assert answer == status
    assert first.received["sessions"] == 1
    assert second.received["sessions"] == 0


async def test_launch_falls_back_when_the_first_instance_cannot_be_reached(
    make_gateway: MakeGateway, studios: tuple[Studio, Studio, str, str]
) -> None:
    """A launch refused a connection moves to the fallback, session and all."""
    second, url_b = studios[1], studios[3]
    url_a = f"http://127.0.0.1:{free_port()}"
    gateway = await make_gateway(
        {"a": instance(url_a, retries={"attempts": 2}), "b": instance(url_b)},
        [{"use": "a", "fallback": ["b"]}],
    )

    status, document = await post_launch(gateway)
    session = await gateway.get(f"/v1/sessions/{document['session_id']}", headers=AUTH)

    assert status == 201 and document["provider"] == "b"
    assert (await session.json())["provider"] == "b"
    assert second.received["sessions"] == 1
    labels = {"provider": "a", "operation": "launch"}
    assert sample(metrics_of(gateway), "provider_fallbacks_total", **labels) == 1


async def test_open_breaker_sends_new_launches_to_the_fallback(
    make_gateway: MakeGateway, studios: tuple[Studio, Studio, str, str]
) -> None:
    """Once a's breaker opens, routing skips a while b can take the launch."""
    first, second, url_a, url_b = studios
    gateway = await make_gateway(
        {"a": instance(url_a, breaker={"failures": 2}), "b": instance(url_b)},
        [{"use": "a", "fallback": ["b"]}],
    )
    first.inject(Fault.error(500), times=2)

    failed = [await post_launch(gateway, f"p-{n}") for n in range(2)]
    moved = await post_launch(gateway, "p-moved")

    assert [status for status, _ in failed] == [503, 503]
    assert moved[0] == 201 and moved[1]["provider"] == "b"
    assert first.received["sessions"] == 2
    assert second.received["sessions"] == 1


class TestReads:
    async def test_reads_are_retried_within_their_attempts(
        self, registry: AdapterRegistry, studios: tuple[Studio, Studio, str, str]
    ) -> None:
        """A game list failing with 500 is asked exactly `attempts` times."""
        studio, url = studios[0], studios[2]
        built = provider_at(registry, url, retries={"attempts": 3})
        studio.inject(Fault.error(500), times=5, on="games")

        with pytest.raises(CallFailed):
            await built.call("list_games", built.adapter.list_games, safe=True)
        await built.aclose()

        assert studio.received["games"] == 3

    async def test_reads_honour_retry_after(
        self, registry: AdapterRegistry, studios: tuple[Studio, Studio, str, str]
    ) -> None:
        """After a 429 with `Retry-After: 1` the next try waits at least 1 s."""
        studio, url = studios[0], studios[2]
        built = provider_at(registry, url, retries={"deadline_seconds": 5})
        studio.inject(Fault.error(429, retry_after=1), on="games")

        with capture_logs() as logs:
            games = await built.call("list_games", built.adapter.list_games, safe=True)
        await built.aclose()

        retried = [line for line in logs if line["event"] == "provider.call.retried"]
        assert games and studio.received["games"] == 2
        assert retried[0]["wait"] >= 1.0

    async def test_retry_after_beyond_the_deadline_ends_the_retries(
        self, registry: AdapterRegistry, studios: tuple[Studio, Studio, str, str]
    ) -> None:
        """A `Retry-After` longer than the deadline is not waited for."""
        studio, url = studios[0], studios[2]
        built = provider_at(registry, url, retries={"deadline_seconds": 2})
        studio.inject(Fault.error(503, retry_after=30), on="games")

        with pytest.raises(CallFailed) as failed:
            await built.call("list_games", built.adapter.list_games, safe=True)
        await built.aclose()

        assert studio.received["games"] == 1
        assert failed.value.retry_after == 30


def provider_at(registry: AdapterRegistry, url: str, **policy: Any) -> Provider:
    """Return instance `a` at `url` over a real connection pool."""
    setup = parse_config(
        {
            "operators": [{"name": "casino-a", "api_keys": [API_KEY]}],
            "providers": {"a": instance(url, **policy)},
        },
        registry,
        {},
    )
    return Provider(
        "a", setup.providers["a"], SoftswissAdapter, setup.currency_table(), Metrics()
    )


async def test_other_providers_keep_answering_while_one_hangs(
    make_gateway: MakeGateway, studios: tuple[Studio, Studio, str, str]
) -> None:
    """Launches to b all complete while a hangs, and a holds at most its cap."""
    first, second, url_a, url_b = studios
    gateway = await make_gateway(
        {
            "a": instance(
                url_a, max_concurrency=3, timeouts={"connect": 0.5, "total": 30}
            ),
            "b": instance(url_b),
        },
        [{"match": {"country": "DE"}, "use": "a"}, {"use": "b"}],
    )
    first.inject(Fault.hang(), times=None)

    to_a = [
        asyncio.create_task(post_launch(gateway, f"a-{n}", country="DE"))
        for n in range(8)
    ]
    to_b = await asyncio.gather(*(post_launch(gateway, f"b-{n}") for n in range(20)))
    still_hanging = sum(1 for task in to_a if not task.done())
    reached_a = first.received["sessions"]
    first.clear_faults()
    ended = await asyncio.gather(*to_a)

    assert [status for status, _ in to_b] == [201] * 20
    assert second.received["sessions"] == 20
    assert still_hanging >= 3
    assert reached_a <= 3
    assert {status for status, _ in ended} <= {201, 503}


async def test_connection_pool_recovers_after_a_run_of_timeouts(
    make_gateway: MakeGateway, studios: tuple[Studio, Studio, str, str]
) -> None:
    """Once the provider answers again, every launch succeeds on the same pool."""
    studio, url = studios[0], studios[2]
    gateway = await make_gateway(
        {
            "a": instance(
                url,
                max_concurrency=2,
                timeouts={"total": 0.3},
                breaker={"failures": 100},
            )
        },
        [{"use": "a"}],
    )
    studio.inject(Fault.hang(), times=None)

    timed_out = await asyncio.gather(
        *(post_launch(gateway, f"p-{n}") for n in range(4))
    )
    studio.clear_faults()
    recovered = [await post_launch(gateway, f"q-{n}") for n in range(5)]

    assert {status for status, _ in timed_out} == {503}
    assert [status for status, _ in recovered] == [201] * 5
    assert gateway.app[RUNTIME].snapshot.providers["a"].transport.in_flight == 0


async def test_pool_wait_is_measured_apart_from_provider_latency(
    make_gateway: MakeGateway, studios: tuple[Studio, Studio, str, str]
) -> None:
    """With one slot, the second of two slow launches waits in the pool."""
    studio, url = studios[0], studios[2]
    gateway = await make_gateway(
        {"a": instance(url, max_concurrency=1, timeouts={"connect": 2})},
        [{"use": "a"}],
    )
    studio.inject(Fault.slow(0.3), times=2)

    answers = await asyncio.gather(
        post_launch(gateway, "p-1"), post_launch(gateway, "p-2")
    )

    metrics = metrics_of(gateway)
    waited = sample(metrics, "provider_pool_wait_seconds_sum", provider="a")
    labels = {"provider": "a", "operation": "launch"}
    assert [status for status, _ in answers] == [201, 201]
    assert sample(metrics, "provider_pool_wait_seconds_count", provider="a") == 2
    assert waited > 0.15
    assert sample(metrics, "provider_call_seconds_sum", **labels) > waited
    assert sample(metrics, "gateway_overhead_seconds_count", operation="launch") == 2


async def test_wallet_callbacks_are_not_subject_to_the_breaker(
    make_gateway: MakeGateway, studios: tuple[Studio, Studio, str, str]
) -> None:
    """A provider whose breaker is open still gets its callbacks answered."""
    gateway = await make_gateway({"a": instance(studios[2])}, [{"use": "a"}])
    breaker = gateway.app[RUNTIME].snapshot.providers["a"].breaker
    for _ in range(breaker.threshold):
        breaker.failed(breaker.admit())
    body = orjson.dumps(
        {"user_id": "casino-a:player-1", "currency": "EUR", "game": GAME}
    )
    await post_launch(gateway)

    answer = await gateway.post(
        "/providers/a/play",
        data=body,
        headers={"X-REQUEST-SIGN": hmac_sha256_hex(TOKEN, body)},
    )

    assert breaker.state is BreakerState.OPEN
    assert answer.status == 200


class TestPolicyConfig:
    def test_reserved_keys_go_to_the_gateway_not_the_adapter(
        self, registry: AdapterRegistry
    ) -> None:
        """`timeouts`, `retries`, `breaker` and `max_concurrency` are the gateway's."""
        loaded = config(
            registry,
            timeouts={"connect": 1, "launch": {"total": 4}},
            retries={"attempts": 2},
            breaker={"failures": 7, "cooldown_seconds": 12},
            max_concurrency=9,
        ).providers["a"]

        assert loaded.policy.timeouts.for_operation("launch") == (1.0, 4.0)
        assert loaded.policy.retries.attempts == 2
        assert loaded.policy.breaker.failures == 7
        assert loaded.policy.max_concurrency == 9
        assert not hasattr(loaded.settings, "timeouts")

    @pytest.mark.parametrize(
        ("policy", "named"),
        [
            ({"timeouts": {"colour": 1}}, "providers.a.timeouts.colour"),
            (
                {"timeouts": {"launch": {"total": 0}}},
                "providers.a.timeouts.launch.total",
            ),
            ({"retries": {"attempts": 0}}, "providers.a.retries.attempts"),
            ({"breaker": {"failures": 0}}, "providers.a.breaker.failures"),
            ({"max_concurrency": 0}, "providers.a.max_concurrency"),
        ],
    )
    def test_bad_policy_names_its_key(
        self, registry: AdapterRegistry, policy: dict[str, Any], named: str
    ) -> None:
        """A fault in a gateway key of an instance names the key path."""
        with pytest.raises(ConfigError) as raised:
            config(registry, **policy)

        assert named in raised.value.message


def series(metrics: Metrics) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    """Return every series the registry holds, by name and labels."""
    return {
        (sampled.name, tuple(sorted(sampled.labels.items())))
        for family in metrics.registry.collect()
        for sampled in family.samples
    }


async def test_ten_thousand_players_and_games_add_no_series(
    registry: AdapterRegistry,
) -> None:
    """Routing, outbound calls and overhead are labelled from fixed sets only."""
    outcomes: list[int | Exception] = [200, 500, 404, 429, httpx.ConnectError("no")]
    answers = iter(range(1_000_000))

    async def handler(request: httpx.Request) -> httpx.Response:
        answer = outcomes[next(answers) % len(outcomes)]
        if isinstance(answer, Exception):
            raise answer
        return launched(request) if answer == 200 else httpx.Response(answer)

    built, metrics = provider(
        registry, handler, retries={"attempts": 1}, breaker={"failures": 1000}
    )
    setup = config(registry)
    router = Router(setup.routes.model_copy(update={"games": []}), {})

    async def one(n: int) -> None:
        player, game = f"casino-a:player-{n}", f"studio-{n}:game-{n}"
        router.route(RouteQuery(game=game, player=player))
        try:
            await launch(built, launch_request(player, game))
        except CallFailed:
            metrics.count_fallback("a", "launch")
        metrics.observe_overhead("launch", 0.001)

    for n in range(10):
        await one(n)
    before = series(metrics)
    for n in range(10, 10_010):
        await one(n)

    assert series(metrics) == before


@pytest.mark.parametrize(
    ("text", "fault"),
    [
        ("hang", Fault.hang()),
        ("reset", Fault.reset()),
        ("slow:0.5", Fault.slow(0.5)),
        ("500", Fault.error(500)),
        ("429:3", Fault.error(429, retry_after=3)),
    ],
)
def test_simulator_fault_option_reads_each_mode(text: str, fault: Fault) -> None:
    """`serve --fault` names every mode the studio can misbehave in."""
    assert parse_fault(text) == fault
