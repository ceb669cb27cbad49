"""Tests of the metrics: route templates as labels, fixed sets, /metrics."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import ClientTimeout, web
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from contracts import (
    Operation,
    OperationOutcome,
    Status,
    WalletOperation,
    WalletOutcome,
    WalletRequest,
)
from gateway.metrics import Metrics, metrics_handler, metrics_middleware


def samples(metrics: Metrics, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Return the samples named `name`, keyed by their sorted labels."""
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in metrics.registry.collect()
        for sample in family.samples
        if sample.name == name
    }


def labels(**values: str) -> tuple[tuple[str, str], ...]:
    """Return labels in the key form `samples` uses."""
    return tuple(sorted(values.items()))


async def show_thing(request: web.Request) -> web.Response:
    """Answer with the id from the path."""
    return web.Response(text=request.match_info["id"])


async def forbid(request: web.Request) -> web.Response:
    """Refuse through an HTTP exception."""
    raise web.HTTPForbidden()


async def fail(request: web.Request) -> web.Response:
    """Fail with an error the handler did not expect."""
    raise RuntimeError("unexpected")


@pytest.fixture
def metrics() -> Metrics:
    """A fresh set of metrics with two configured provider instances."""
    return Metrics(providers=["studio-direct", "studio-via-hub"])


@pytest.fixture
async def client(metrics: Metrics, aiohttp_client: Any) -> Any:
    """A real aiohttp app on loopback with the metrics middleware and endpoint."""
    app = web.Application(middlewares=[metrics_middleware(metrics)])
    app.router.add_get("/things/{id}", show_thing)
    app.router.add_get("/forbidden", forbid)
    app.router.add_get("/broken", fail)
    app.router.add_get("/metrics", metrics_handler(metrics))
    return await aiohttp_client(app)


class TestMiddleware:
    async def test_ids_in_paths_add_one_series(self, client: Any, metrics: Metrics):
        """Fifty different ids under one route template make exactly one series."""
        for number in range(50):
            response = await client.get(f"/things/{number}")
            assert response.status == 200

        series = samples(metrics, "http_requests_total")
        assert series == {labels(route="/things/{id}", method="GET", status="200"): 50}
        latency = samples(metrics, "http_request_seconds_count")
        assert latency == {labels(route="/things/{id}"): 50}

    async def test_unmatched_paths_share_one_label(self, client: Any, metrics: Metrics):
        """Requests no route matches are counted under "unmatched"."""
        for number in range(5):
            await client.get(f"/nothing/{number}")

        series = samples(metrics, "http_requests_total")
        assert series == {labels(route="unmatched", method="GET", status="404"): 5}

    async def test_http_exception_status_is_recorded(
        self, client: Any, metrics: Metrics
    ):
        """A handler raising an HTTP exception is counted with that status."""
        await client.get("/forbidden")

        series = samples(metrics, "http_requests_total")
        assert series == {labels(route="/forbidden", method="GET", status="403"): 1}

    async def test_unexpected_error_counts_as_500(self, client: Any, metrics: Metrics):
        """A handler failing unexpectedly is counted as a 500."""
        response = await client.get("/broken")

        assert response.status == 500
        series = samples(metrics, "http_requests_total")
        assert series == {labels(route="/broken", method="GET", status="500"): 1}

    async def test_unknown_method_is_other(self, client: Any, metrics: Metrics):
        """A method outside the standard set is counted as "other"."""
        await client.request("PROPFIND", "/things/1")

        series = samples(metrics, "http_requests_total")
        assert series == {labels(route="unmatched", method="other", status="405"): 1}

    async def test_cancelled_request_counts_as_client_closed(
        self, metrics: Metrics, aiohttp_client: Any
    ):
        """A request cancelled because the client left is counted as 499, not 500."""
        cancelled = asyncio.Event()

        async def hang(request: web.Request) -> web.Response:
            try:
                await asyncio.Event().wait()
            finally:
                cancelled.set()
            raise AssertionError("never answered")

        app = web.Application(middlewares=[metrics_middleware(metrics)])
        app.router.add_get("/slow", hang)
        client = await aiohttp_client(app)

        with pytest.raises(TimeoutError):
            await client.get("/slow", timeout=ClientTimeout(total=0.05))
        await asyncio.wait_for(cancelled.wait(), timeout=5)

        series = samples(metrics, "http_requests_total")
        assert series == {labels(route="/slow", method="GET", status="499"): 1}


class TestEndpoint:
    async def test_metrics_served_in_text_format(self, client: Any):
        """`/metrics` serves the registry in the Prometheus text format."""
        await client.get("/things/7")

        response = await client.get("/metrics")

        assert response.status == 200
        assert response.headers["Content-Type"] == CONTENT_TYPE_LATEST
        families = {
            family.name: family
            for family in text_string_to_metric_families(await response.text())
        }
        (sample,) = [
            sample
            for sample in families["http_requests"].samples
            if sample.name == "http_requests_total"
            and sample.labels["route"] == "/things/{id}"
        ]
        assert sample.labels == {
            "route": "/things/{id}",
            "method": "GET",
            "status": "200",
        }
        assert {"http_request_seconds", "provider_call_seconds"} <= families.keys()


class TestLedgerAndProviders:
    def test_outcomes_counted_per_operation(self, metrics: Metrics):
        """Each operation of a request is counted with the request's status."""
        request = WalletRequest(
            player="p-1",
            currency="EUR",
            operations=(
                WalletOperation(operation=Operation.DEBIT, transaction_id="t-1"),
                WalletOperation(operation=Operation.CREDIT, transaction_id="t-2"),
            ),
        )

        metrics.record_outcome("studio-direct", request, Status.INSUFFICIENT_FUNDS)
        metrics.record_outcome(
            "studio-direct", WalletRequest(player="p-1", currency="EUR"), Status.OK
        )

        assert samples(metrics, "ledger_outcomes_total") == {
            labels(
                provider="studio-direct", operation=op, status="insufficient_funds"
            ): 1
            for op in ("debit", "credit")
        } | {labels(provider="studio-direct", operation="balance", status="ok"): 1}

    def test_replays_counted_from_outcome(self, metrics: Metrics):
        """Operations an outcome marks as replays are counted per provider."""
        now = datetime.now(UTC)
        request = WalletRequest(
            player="p-1",
            currency="EUR",
            operations=(
                WalletOperation(operation=Operation.DEBIT, transaction_id="t-1"),
            ),
        )
        outcome = WalletOutcome(
            status=Status.OK,
            currency="EUR",
            balance=100,
            operations=(
                OperationOutcome(
                    transaction_id="t-1",
                    gateway_transaction_id="g-1",
                    processed_at=now,
                    replay=True,
                ),
            ),
        )

        metrics.record_outcome("studio-via-hub", request, outcome)

        assert samples(metrics, "ledger_replays_total") == {
            labels(provider="studio-via-hub"): 1
        }

    def test_unknown_provider_is_one_label(self, metrics: Metrics):
        """A provider name outside the configured set is recorded as "unknown"."""
        for number in range(10):
            metrics.count_replay(f"made-up-{number}")

        assert samples(metrics, "ledger_replays_total") == {
            labels(provider="unknown"): 10
        }

    def test_providers_follow_a_reload(self, metrics: Metrics):
        """After `set_providers`, the new instance names are accepted."""
        metrics.set_providers(["studio-new"])

        metrics.count_replay("studio-new")
        metrics.count_replay("studio-direct")

        assert samples(metrics, "ledger_replays_total") == {
            labels(provider="studio-new"): 1,
            labels(provider="unknown"): 1,
        }

    def test_provider_call_timed_even_on_failure(self, metrics: Metrics):
        """A provider call is timed whether it returns or raises."""
        with metrics.provider_call("studio-direct", "launch"):
            pass
        with (
            pytest.raises(TimeoutError),
            metrics.provider_call("studio-direct", "launch"),
        ):
            raise TimeoutError

        assert samples(metrics, "provider_call_seconds_count") == {
            labels(provider="studio-direct", operation="launch"): 2
        }

    def test_two_instances_do_not_collide(self):
        """Two Metrics in one process keep separate registries and counts."""
        first, second = Metrics(), Metrics()

        first.count_replay("studio-direct")

        assert samples(first, "ledger_replays_total") == {
            labels(provider="studio-direct"): 1
        }
        assert samples(second, "ledger_replays_total") == {}
