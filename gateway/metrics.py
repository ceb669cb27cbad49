"""Prometheus metrics: one registry per application, labels from fixed sets.

Routes are labelled by their template (`/things/{id}`), providers by the
instance names from configuration, operations and outcomes by the contract's
enums, HTTP methods by the standard set. Nothing a caller sends can add a
series, so the number of series stays bounded whatever the traffic.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

from contracts.wallet import Operation, Status, WalletOutcome, WalletRequest

UNMATCHED = "unmatched"
UNKNOWN = "unknown"

# Callbacks answer in milliseconds, so the low end is finer than the
# library's defaults; the top stays above any provider's own timeout.
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_CLIENT_CLOSED = 499


class Metrics:
    """The gateway's metrics, held in a registry of their own.

    `providers` are the provider instance names from configuration; once
    given, a name outside that set is recorded as "unknown". Without them
    every name is taken as given, and the caller keeps the set fixed.
    """

    def __init__(self, providers: Iterable[str] | None = None) -> None:
        self.registry = CollectorRegistry()
        self.providers = None if providers is None else frozenset(providers)
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)

        self.http_requests = Counter(
            "http_requests",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.http_request_seconds = Histogram(
            "http_request_seconds",
            "Time to answer an HTTP request, by route template.",
            ["route"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.provider_call_seconds = Histogram(
            "provider_call_seconds",
            "Time spent waiting on a provider's API, by instance and operation.",
            ["provider", "operation"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.ledger_outcomes = Counter(
            "ledger_outcomes",
            "Wallet operations the ledger answered, by outcome status.",
            ["provider", "operation", "status"],
            registry=self.registry,
        )
        self.ledger_replays = Counter(
            "ledger_replays",
            "Wallet operations answered from the ledger as replays.",
            ["provider"],
            registry=self.registry,
        )

    def set_providers(self, names: Iterable[str]) -> None:
        """Replace the set of provider instance names, as a config reload does."""
        self.providers = frozenset(names)

    def observe_request(
        self, route: str, method: str, status: int, seconds: float
    ) -> None:
        """Count one answered HTTP request and record how long it took."""
        method = method if method in _METHODS else "other"
        self.http_requests.labels(route, method, str(status)).inc()
        self.http_request_seconds.labels(route).observe(seconds)

    def observe_provider_call(
        self, provider: str, operation: str, seconds: float
    ) -> None:
        """Record the duration of one call to a provider's API.

        `operation` names the call in code (`launch`, `list_games`, ...), never
        a value read from a request.
        """
        self.provider_call_seconds.labels(self._provider(provider), operation).observe(
            seconds
        )

    @contextmanager
    def provider_call(self, provider: str, operation: str) -> Iterator[None]:
        """Time the enclosed call to a provider's API, whether it succeeds or not."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.observe_provider_call(provider, operation, time.perf_counter() - start)

    def record_outcome(
        self, provider: str, request: WalletRequest, outcome: WalletOutcome | Status
    ) -> None:
        """Count the outcome of each operation in a request, and its replays.

        A request without operations counts as one balance read. Given only a
        `Status`, replays are not known and not counted.
        """
        provider = self._provider(provider)
        status = outcome.status if isinstance(outcome, WalletOutcome) else outcome
        operations = [op.operation for op in request.operations] or [Operation.BALANCE]
        for operation in operations:
            self.ledger_outcomes.labels(
                provider, Operation(operation).value, Status(status).value
            ).inc()

        if isinstance(outcome, WalletOutcome):
            replays = sum(1 for applied in outcome.operations if applied.replay)
            if replays:
                self.ledger_replays.labels(provider).inc(replays)

    def count_replay(self, provider: str) -> None:
        """Count one wallet operation answered as a replay of an earlier one."""
        self.ledger_replays.labels(self._provider(provider)).inc()

    def _provider(self, name: str) -> str:
        if self.providers is None or name in self.providers:
            return name
        return UNKNOWN


def route_template(request: web.Request) -> str:
    """Return the template of the route that matched, or "unmatched"."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else UNMATCHED


def metrics_middleware(metrics: Metrics) -> Middleware:
    """Return an aiohttp middleware counting requests and latency by route."""

    @web.middleware
    async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
        start = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as error:
            status = error.status
            raise
        except asyncio.CancelledError:
            # The client went away; counting that as a server error would
            # page someone for a player closing a tab.
            status = _CLIENT_CLOSED
            raise
        finally:
            metrics.observe_request(
                route_template(request),
                request.method,
                status,
                time.perf_counter() - start,
            )

    return record


def metrics_handler(metrics: Metrics) -> Handler:
    """Return an aiohttp handler serving the registry in the Prometheus format."""

    async def serve(request: web.Request) -> web.StreamResponse:
        return web.Response(
            body=generate_latest(metrics.registry),
            headers={hdrs.CONTENT_TYPE: CONTENT_TYPE_LATEST},
        )

    return serve
