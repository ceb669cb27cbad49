"""Prometheus metrics: one registry per application, labels from fixed sets.

Routes are labelled by their template (`/things/{id}`), providers by the
instance names from configuration, operations and outcomes by the contract's
enums, HTTP methods by the standard set. Nothing a caller sends can add a
series, so the number of series stays bounded whatever the traffic.

With `PROMETHEUS_MULTIPROC_DIR` set (as `gamegate serve --workers N` does
for its workers), the values live in files of that folder and `/metrics`
answers every worker's, summed; a single process keeps them in memory.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
    multiprocess,
)

from contracts.wallet import Operation, Status, WalletOutcome, WalletRequest

UNMATCHED = "unmatched"
UNKNOWN = "unknown"

# Callbacks answer in a millisecond or less, so the low end is finer than
# the library's defaults; the top stays above any provider's own timeout.
_BUCKETS = (
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
)
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_CLIENT_CLOSED = 499
# Set by `gamegate serve --workers N` for its workers, before they start: the
# client library picks its storage when it is first imported.
MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


class Metrics:
    """The gateway's metrics, held in a registry of their own.

    `providers` are the provider instance names from configuration; once
    given, a name outside that set is recorded as "unknown". Without them
    every name is taken as given, and the caller keeps the set fixed.
    """

    def __init__(self, providers: Iterable[str] | None = None) -> None:
        self.registry = CollectorRegistry()
        self.providers = None if providers is None else frozenset(providers)
        self.multiprocess = multiprocess_dir() is not None
        if not self.multiprocess:
            # Across workers these would describe only the one that answered.
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)
        self._request_children: dict[tuple[str, str, int], tuple[Counter, Histogram]]
        self._request_children = {}
        self._outcome_children: dict[tuple[str, str, str], Counter] = {}
        self._overhead_children: dict[str, Histogram] = {}

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
        self._provider_metrics()
        self._wallet_metrics()

    def _provider_metrics(self) -> None:
        # Outbound calls, as the transport wrapper around each instance's
        # client sees them; operations and outcomes come from fixed sets.
        self.provider_requests = Counter(
            "provider_requests",
            "Outbound requests to a provider's API, by instance, operation, outcome.",
            ["provider", "operation", "outcome"],
            registry=self.registry,
        )
        self.provider_pool_wait_seconds = Histogram(
            "provider_pool_wait_seconds",
            "Time an outbound request waited for a concurrency slot and a pooled"
            " connection, apart from the provider's own latency.",
            ["provider"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.provider_in_flight = Gauge(
            "provider_in_flight",
            "Outbound requests to a provider instance holding a concurrency slot.",
            ["provider"],
            registry=self.registry,
        )
        self.provider_retries = Counter(
            "provider_retries",
            "Outbound operations tried again, by instance and operation.",
            ["provider", "operation"],
            registry=self.registry,
        )
        self.provider_fallbacks = Counter(
            "provider_fallbacks",
            "Launches moved to a fallback instance, by the instance that failed.",
            ["provider", "operation"],
            registry=self.registry,
        )
        self.provider_breaker_state = Gauge(
            "provider_breaker_state",
            "Circuit breaker state per instance: 0 closed, 1 half-open, 2 open.",
            ["provider"],
            registry=self.registry,
        )
        self.provider_breaker_transitions = Counter(
            "provider_breaker_transitions",
            "Circuit breaker state changes, by instance and the state entered.",
            ["provider", "state"],
            registry=self.registry,
        )
        self.gateway_overhead_seconds = Histogram(
            "gateway_overhead_seconds",
            "The gateway's own time on a request: the request's time minus the"
            " time spent on outbound calls and retry waits.",
            ["operation"],
            buckets=_BUCKETS,
            registry=self.registry,
        )

    def _wallet_metrics(self) -> None:
        # The casino's wallet as the settlement waits on it; and, when several
        # workers share these metrics, what each of them answered.
        self.operator_wallet_call_seconds = Histogram(
            "operator_wallet_call_seconds",
            "Time spent waiting on the casino's wallet, retries included, by call.",
            ["operation"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.worker_requests: Gauge | None = None
        if self.multiprocess:
            self.worker_requests = Gauge(
                "gateway_worker_requests",
                "HTTP requests each worker process answered, by process id.",
                multiprocess_mode="liveall",
                registry=self.registry,
            )

    def set_providers(self, names: Iterable[str]) -> None:
        """Replace the set of provider instance names, as a config reload does."""
        self.providers = frozenset(names)

    def observe_request(
        self, route: str, method: str, status: int, seconds: float
    ) -> None:
        """Count one answered HTTP request and record how long it took."""
        # Labelled children are looked up once per series, not per request.
        method = method if method in _METHODS else "other"
        key = (route, method, status)
        children = self._request_children.get(key)
        if children is None:
            children = (
                self.http_requests.labels(route, method, str(status)),
                self.http_request_seconds.labels(route),
            )
            self._request_children[key] = children
        children[0].inc()
        children[1].observe(seconds)
        if self.worker_requests is not None:
            self.worker_requests.inc()

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
            key = (provider, operation, status)
            child = self._outcome_children.get(key)
            if child is None:
                child = self.ledger_outcomes.labels(
                    provider, Operation(operation).value, Status(status).value
                )
                self._outcome_children[key] = child
            child.inc()

        if isinstance(outcome, WalletOutcome):
            replays = sum(1 for applied in outcome.operations if applied.replay)
            if replays:
                self.ledger_replays.labels(provider).inc(replays)

    def count_replay(self, provider: str) -> None:
        """Count one wallet operation answered as a replay of an earlier one."""
        self.ledger_replays.labels(self._provider(provider)).inc()

    def observe_outbound(
        self, provider: str, operation: str, outcome: str, seconds: float
    ) -> None:
        """Count one outbound request by outcome and record the provider's time."""
        provider = self._provider(provider)
        self.provider_requests.labels(provider, operation, outcome).inc()
        self.provider_call_seconds.labels(provider, operation).observe(seconds)

    def observe_pool_wait(self, provider: str, seconds: float) -> None:
        """Record how long an outbound request waited before it could be sent."""
        self.provider_pool_wait_seconds.labels(self._provider(provider)).observe(
            seconds
        )

    def add_in_flight(self, provider: str, delta: int) -> None:
        """Move the count of outbound requests holding a slot by `delta`."""
        self.provider_in_flight.labels(self._provider(provider)).inc(delta)

    def count_retry(self, provider: str, operation: str) -> None:
        """Count one outbound operation tried again."""
        self.provider_retries.labels(self._provider(provider), operation).inc()

    def count_fallback(self, provider: str, operation: str) -> None:
        """Count one operation moved off `provider` to the next instance."""
        self.provider_fallbacks.labels(self._provider(provider), operation).inc()

    def set_breaker(self, provider: str, state: str, value: int) -> None:
        """Record a circuit breaker entering a state (`value` is its gauge code)."""
        provider = self._provider(provider)
        self.provider_breaker_state.labels(provider).set(value)
        self.provider_breaker_transitions.labels(provider, state).inc()

    def observe_overhead(self, operation: str, seconds: float) -> None:
        """Record the gateway's own time on one request of an operation."""
        child = self._overhead_children.get(operation)
        if child is None:
            child = self.gateway_overhead_seconds.labels(operation)
            self._overhead_children[operation] = child
        child.observe(max(seconds, 0.0))

    def observe_wallet_call(self, operation: str, seconds: float) -> None:
        """Record one call to the casino's wallet (`operation` names it in code)."""
        self.operator_wallet_call_seconds.labels(operation).observe(seconds)

    def exposition(self) -> bytes:
        """Return the metrics in the Prometheus text format; every worker's, summed."""
        if not self.multiprocess:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]

        return generate_latest(registry)

    def _provider(self, name: str) -> str:
        if self.providers is None or name in self.providers:
            return name
        return UNKNOWN


def multiprocess_dir() -> str | None:
    """Return the folder workers share their metrics in, or None for one process."""
    return os.environ.get(MULTIPROCESS_VARIABLE) or None


class _Upstream:
    """The time one request has spent waiting on the casino's wallet so far."""

    __slots__ = ("metrics", "seconds")

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self.seconds = 0.0


_UPSTREAM: ContextVar[_Upstream | None] = ContextVar("gamegate_upstream", default=None)


class WalletCallTimer:
    """Times one call to the casino's wallet for the request that makes it."""

    __slots__ = ("_operation", "_started")

    def __init__(self, operation: str) -> None:
        self._operation = operation
        self._started = 0.0

    def __enter__(self) -> None:
        self._started = time.perf_counter()

    def __exit__(self, *exc_info: object) -> None:
        seconds = time.perf_counter() - self._started
        upstream = _UPSTREAM.get()
        if upstream is not None:
            upstream.seconds += seconds
            upstream.metrics.observe_wallet_call(self._operation, seconds)


def wallet_call(operation: str) -> WalletCallTimer:
    """Time the enclosed call to the casino's wallet, whether it succeeds or not.

    The time is recorded in the metrics of the request being answered and
    counted as that request's time upstream; outside a request (as in
    `gamegate reconcile`) nothing is recorded.
    """
    return WalletCallTimer(operation)


def own_seconds(started: float) -> float:
    """Return the time since `started` the current request spent on its own work.

    That is the time elapsed minus the time it waited on the casino's wallet.
    """
    upstream = _UPSTREAM.get()
    waited = upstream.seconds if upstream is not None else 0.0

    return time.perf_counter() - started - waited


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
        token = _UPSTREAM.set(_Upstream(metrics))
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
            _UPSTREAM.reset(token)
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
            body=metrics.exposition(),
            headers={hdrs.CONTENT_TYPE: CONTENT_TYPE_LATEST},
        )

    return serve
