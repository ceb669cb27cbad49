"""Resilience around every provider instance: timeouts, breaker, cap, retries.

Adapters make their outbound calls through the `httpx.AsyncClient` the
gateway hands them. Its transport, `ProviderTransport`, wraps every request:

1. the instance's circuit breaker (`gateway.breaker`) admits it or refuses
   it at once (`CircuitOpen`);
2. a slot under the instance's `max_concurrency` is taken, waiting at most
   the operation's connect timeout (`ProviderBusy` after that), so a slow
   provider holds at most that many connections and never the gateway's
   others;
3. the operation's connect and total timeouts are applied, tightening any
   the adapter set;
4. the outcome (one of `Outcome`) is counted, the breaker told, the time
   spent waiting for a slot or a pooled connection measured apart from the
   provider's own latency, and a `Retry-After` on 429 or 503 noted.

`CircuitOpen` and `ProviderBusy` are `httpx.ConnectError`s, so an adapter
translates them like any failure to connect, without knowing about them.

Retries and fallback belong to the gateway's own flows. `Provider.call`
retries an operation that is safe to repeat (a read) on timeouts,
connection failures, 5xx and 429; a launch only when every request it made
failed to connect, so the provider cannot have opened anything. What a
failed call may do next is in its `CallFailed`: `fallback_safe` is true
only when no request of it reached the provider.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

import httpx
import structlog
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
    wait_random_exponential,
)

from contracts.adapter import AdapterContext, GameAdapter
from contracts.errors import ProviderError
from contracts.money import CurrencyTable
from contracts.payments import PaymentAdapter
from gateway.breaker import Breaker, BreakerState, CircuitOpen, Permit
from gateway.config import OUTBOUND_OPERATIONS, ProviderConfig, RetriesConfig
from gateway.metrics import Metrics

log = structlog.get_logger(__name__)

T = TypeVar("T")
OTHER = "other"


class Outcome(StrEnum):
    """How one outbound request ended; the `outcome` label of its metrics."""

    OK = "ok"
    CLIENT_ERROR = "client_error"
    RATE_LIMITED = "rate_limited"
    SERVER_ERROR = "server_error"
    CONNECT_ERROR = "connect_error"
    CONNECT_TIMEOUT = "connect_timeout"
    TIMEOUT = "timeout"
    TRANSPORT_ERROR = "transport_error"
    CIRCUIT_OPEN = "circuit_open"
    BUSY = "busy"


# Outcomes of requests that never left the gateway: nothing reached the
# provider, so the operation may move to another instance.
NOT_REACHED = frozenset(
    {Outcome.CONNECT_ERROR, Outcome.CONNECT_TIMEOUT, Outcome.CIRCUIT_OPEN, Outcome.BUSY}
)
NOT_CONNECTED = frozenset({Outcome.CONNECT_ERROR, Outcome.CONNECT_TIMEOUT})
BREAKER_FAILURES = frozenset(
    {
        Outcome.SERVER_ERROR,
        Outcome.CONNECT_ERROR,
        Outcome.CONNECT_TIMEOUT,
        Outcome.TIMEOUT,
        Outcome.TRANSPORT_ERROR,
    }
)
READ_RETRYABLE = BREAKER_FAILURES | {Outcome.RATE_LIMITED}


class ProviderBusy(httpx.ConnectError):
    """Every concurrency slot of the instance stayed taken; nothing was sent."""


class TotalTimeout(httpx.TimeoutException):
    """The request took longer than the operation's total timeout."""


@dataclass(slots=True)
class CallScope:
    """What the transport saw of one attempt at an operation."""

    operation: str
    outcomes: list[Outcome] = field(default_factory=list)
    retry_after: float | None = None
    outbound_seconds: float = 0.0

    @property
    def reached(self) -> bool:
        """Whether any request of the attempt may have reached the provider."""
        return any(outcome not in NOT_REACHED for outcome in self.outcomes)


_SCOPE: ContextVar[CallScope | None] = ContextVar("gamegate_call_scope", default=None)


@contextmanager
def call_scope(operation: str) -> Iterator[CallScope]:
    """Label the outbound requests made inside with an operation, and watch them."""
    scope = CallScope(operation if operation in OUTBOUND_OPERATIONS else OTHER)
    token = _SCOPE.set(scope)
    try:
        yield scope
    finally:
        _SCOPE.reset(token)


class ProviderTransport(httpx.AsyncBaseTransport):
    """The transport of one instance's client: breaker, cap, timeouts, metrics."""

    def __init__(
        self,
        instance: str,
        config: ProviderConfig,
        breaker: Breaker,
        metrics: Metrics,
        inner: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        policy = config.policy
        self.instance = instance
        self.breaker = breaker
        self.max_concurrency = policy.max_concurrency
        self.in_flight = 0
        self._timeouts = policy.timeouts
        self._metrics = metrics
        self._slots = asyncio.Semaphore(policy.max_concurrency)
        self._inner = inner or httpx.AsyncHTTPTransport(
            limits=httpx.Limits(
                max_connections=policy.max_concurrency,
                max_keepalive_connections=min(20, policy.max_concurrency),
            ),
            retries=0,
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send one request under the instance's breaker, cap and timeouts."""
        scope = _SCOPE.get()
        operation = scope.operation if scope is not None else OTHER
        connect, total = _bounds(request, *self._timeouts.for_operation(operation))
        try:
            permit = self.breaker.admit()
        except CircuitOpen as error:
            self._record(scope, operation, Outcome.CIRCUIT_OPEN, 0.0)
            raise CircuitOpen(f"{self.instance}: {error}", request=request) from None

        entered = time.perf_counter()
        try:
            async with asyncio.timeout(connect):
                await self._slots.acquire()
        except TimeoutError:
            self.breaker.abandoned(permit)
            self._record(scope, operation, Outcome.BUSY, 0.0)
            self._metrics.observe_pool_wait(
                self.instance, time.perf_counter() - entered
            )
            raise ProviderBusy(
                f"{self.instance}: all {self.max_concurrency} slots taken",
                request=request,
            ) from None
        except BaseException:
            self.breaker.abandoned(permit)
            raise

        self._take_slot()
        trace = _Trace(request.extensions.get("trace"), entered, time.perf_counter())
        timeout = {"connect": connect, "read": total, "write": total, "pool": total}
        request.extensions = {**request.extensions, "timeout": timeout, "trace": trace}

        return await self._send(request, scope, operation, permit, trace, total)

    async def _send(
        self,
        request: httpx.Request,
        scope: CallScope | None,
        operation: str,
        permit: Permit,
        trace: _Trace,
        total: float,
    ) -> httpx.Response:
        try:
            async with asyncio.timeout(total):
                response = await self._inner.handle_async_request(request)
        except BaseException as error:
            outcome = _failure(error, trace)
            self._give_slot()
            if outcome is None or outcome is Outcome.BUSY:
                self.breaker.abandoned(permit)
            else:
                self.breaker.failed(permit)
            if outcome is not None:
                self._finish(scope, operation, outcome, trace)
            if isinstance(error, TimeoutError):
                raise TotalTimeout(
                    f"{self.instance}: no answer within {total:g}s", request=request
                ) from None
            raise

        outcome = _answered(response.status_code)
        if outcome is Outcome.SERVER_ERROR:
            self.breaker.failed(permit)
        else:
            self.breaker.succeeded(permit)
        if scope is not None and response.status_code in (429, 503):
            scope.retry_after = _retry_after(response.headers.get("Retry-After"))

        def done() -> None:
            self._give_slot()
            self._finish(scope, operation, outcome, trace)

        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_Closing(response.stream, done),
            extensions=response.extensions,
            request=request,
        )

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._inner.aclose()

    def _take_slot(self) -> None:
        self.in_flight += 1
        self._metrics.add_in_flight(self.instance, 1)

    def _give_slot(self) -> None:
        self.in_flight -= 1
        self._metrics.add_in_flight(self.instance, -1)
        self._slots.release()

    def _finish(
        self,
        scope: CallScope | None,
        operation: str,
        outcome: Outcome,
        trace: _Trace,
    ) -> None:
        now = time.perf_counter()
        sent = trace.first or trace.started
        self._metrics.observe_pool_wait(self.instance, sent - trace.entered)
        self._record(scope, operation, outcome, now - sent)
        if scope is not None:
            scope.outbound_seconds += now - trace.entered

    def _record(
        self, scope: CallScope | None, operation: str, outcome: Outcome, seconds: float
    ) -> None:
        self._metrics.observe_outbound(self.instance, operation, outcome, seconds)
        if scope is not None:
            scope.outcomes.append(outcome)


class _Trace:
    """httpcore's trace hook: when a request left the pool, and if it was sent."""

    def __init__(self, chained: Any, entered: float, started: float) -> None:
        self._chained = chained
        self.entered = entered
        self.started = started
        self.first: float | None = None
        self.sent = False

    async def __call__(self, name: str, info: dict[str, Any]) -> None:
        if self.first is None and name.endswith(
            (".connect_tcp.started", ".send_request_headers.started")
        ):
            self.first = time.perf_counter()
        if name.endswith(".send_request_headers.started"):
            self.sent = True
        if self._chained is not None:
            await self._chained(name, info)


class _Closing(httpx.AsyncByteStream):
    """A response body that gives the request's slot back once it is closed."""

    def __init__(self, stream: Any, done: Callable[[], None]) -> None:
        self._stream = stream
        self._done: Callable[[], None] | None = done

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            done, self._done = self._done, None
            if done is not None:
                done()


@dataclass(slots=True)
class Spent:
    """Time an operation spent outside the gateway: outbound calls and waits."""

    seconds: float = 0.0


class CallFailed(Exception):
    """An operation failed on one instance, after any retries it was allowed."""

    def __init__(
        self, instance: str, error: ProviderError, scopes: list[CallScope]
    ) -> None:
        super().__init__(error.message)
        self.instance = instance
        self.error = error
        self.outcomes = [outcome for scope in scopes for outcome in scope.outcomes]
        self.reached = any(scope.reached for scope in scopes)
        self.retry_after = scopes[-1].retry_after if scopes else None

    @property
    def fallback_safe(self) -> bool:
        """Whether nothing reached the provider, so another instance may try."""
        return bool(self.outcomes) and not self.reached


class _Attempt(Exception):
    """One failed attempt, carrying what the transport saw of it."""

    def __init__(self, error: ProviderError, scope: CallScope) -> None:
        super().__init__(error.message)
        self.error = error
        self.scope = scope


class Provider:
    """One provider instance as the gateway runs it: adapter, client, breaker.

    `holders` counts the configuration snapshots that use it; the reloader
    closes it once the last of them has drained.
    """

    def __init__(
        self,
        name: str,
        config: ProviderConfig,
        adapter: type[GameAdapter] | type[PaymentAdapter],
        currencies: CurrencyTable,
        metrics: Metrics,
        *,
        inner: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        policy = config.policy
        self.name = name
        self.config = config
        self.currencies = currencies
        self.metrics = metrics
        self.holders = 0
        self.closed = False
        self.breaker = Breaker(
            policy.breaker.failures,
            policy.breaker.cooldown_seconds,
            clock=clock,
            on_change=self._breaker_changed,
        )
        metrics.provider_breaker_state.labels(metrics_name(metrics, name)).set(0)
        self.transport = ProviderTransport(name, config, self.breaker, metrics, inner)
        connect, total = policy.timeouts.for_operation(OTHER)
        self.client = httpx.AsyncClient(
            transport=self.transport, timeout=httpx.Timeout(total, connect=connect)
        )
        context = AdapterContext(instance=name, currencies=currencies, http=self.client)
        # A game or a payment adapter: the instance's kind in the config says
        # which, and each flow reaches only instances of its own kind.
        self.adapter: Any = adapter(config.settings, context)

    def health(self) -> str | None:
        """Return why new launches should avoid this instance, or None."""
        state = self.breaker.state
        if state is BreakerState.OPEN:
            return "breaker open"
        if state is BreakerState.HALF_OPEN and self.breaker.probing:
            return "breaker half-open, probe in flight"
        return None

    def status(self) -> dict[str, Any]:
        """Return the instance's health and breaker state as plain data."""
        return {
            "adapter": self.config.adapter,
            "healthy": self.health() is None,
            "reason": self.health(),
            "breaker": {
                "state": self.breaker.state.value,
                "consecutive_failures": self.breaker.failures,
                "threshold": self.breaker.threshold,
                "cooldown_seconds": self.breaker.cooldown,
                "retry_in_seconds": round(self.breaker.retry_in(), 3),
                "probe_in_flight": self.breaker.probing,
            },
            "in_flight": self.transport.in_flight,
            "max_concurrency": self.transport.max_concurrency,
        }

    async def call(
        self,
        operation: str,
        call: Callable[[], Awaitable[T]],
        *,
        safe: bool,
        spent: Spent | None = None,
    ) -> T:
        """Run one adapter operation with the retries it is allowed.

        `safe` says the operation may be repeated (a read). Raises
        `CallFailed` when the last attempt failed.
        """
        scopes: list[CallScope] = []
        retrying = _retrying(self.config.policy.retries, safe, self._retried)
        try:
            async for attempt in retrying:
                with attempt, call_scope(operation) as scope:
                    scopes.append(scope)
                    try:
                        return await call()
                    except ProviderError as error:
                        raise _Attempt(error, scope) from error
                    except httpx.HTTPError as error:
                        failure = ProviderError(
                            f"{type(error).__name__}: {error}"[:200], retryable=True
                        )
                        raise _Attempt(failure, scope) from error
                    finally:
                        if spent is not None:
                            spent.seconds += scope.outbound_seconds
        except _Attempt as failed:
            raise CallFailed(self.name, failed.error, scopes) from failed.error
        finally:
            if spent is not None:
                spent.seconds += retrying.statistics.get("idle_for", 0.0)

        raise AssertionError("tenacity stopped without an outcome")  # pragma: no cover

    async def aclose(self) -> None:
        """Close the instance's client and its pooled connections."""
        if not self.closed:
            self.closed = True
            await self.client.aclose()

    def _retried(self, state: RetryCallState) -> None:
        failed = state.outcome.exception() if state.outcome is not None else None
        operation = failed.scope.operation if isinstance(failed, _Attempt) else OTHER
        self.metrics.count_retry(self.name, operation)
        log.info(
            "provider.call.retried",
            provider=self.name,
            operation=operation,
            attempt=state.attempt_number,
            wait=round(state.upcoming_sleep, 3),
            outcome=failed.scope.outcomes[-1] if isinstance(failed, _Attempt) else None,
        )

    def _breaker_changed(self, state: BreakerState) -> None:
        self.metrics.set_breaker(self.name, state.value, state.gauge)
        level = log.warning if state is BreakerState.OPEN else log.info
        level("provider.breaker.changed", provider=self.name, state=state.value)


def metrics_name(metrics: Metrics, name: str) -> str:
    """Return the provider label the metrics record an instance under."""
    if metrics.providers is None or name in metrics.providers:
        return name
    return "unknown"


def _retrying(
    retries: RetriesConfig, safe: bool, before_sleep: Callable[[RetryCallState], None]
) -> AsyncRetrying:
    jitter = wait_random_exponential(
        multiplier=retries.backoff_seconds, max=retries.max_backoff_seconds
    )

    def wait(state: RetryCallState) -> float:
        failed = state.outcome.exception() if state.outcome is not None else None
        after = failed.scope.retry_after if isinstance(failed, _Attempt) else None

        return max(jitter(state), after or 0.0)

    return AsyncRetrying(
        stop=stop_after_attempt(retries.attempts)
        | stop_before_delay(retries.deadline_seconds),
        wait=wait,
        retry=retry_if_exception(lambda error: _may_retry(error, safe)),
        before_sleep=before_sleep,
        reraise=True,
    )


def _may_retry(error: BaseException, safe: bool) -> bool:
    if not isinstance(error, _Attempt) or not error.scope.outcomes:
        return False
    outcomes = error.scope.outcomes
    if safe:
        return outcomes[-1] in READ_RETRYABLE

    # A launch is repeated only when the provider cannot have seen it.
    return all(outcome in NOT_CONNECTED for outcome in outcomes)


def _bounds(
    request: httpx.Request, connect: float, total: float
) -> tuple[float, float]:
    # The adapter's own timeout (httpx puts it in the extensions) may only
    # tighten the gateway's.
    own = request.extensions.get("timeout") or {}
    total = min(total, own.get("read") or math.inf)

    return min(connect, own.get("connect") or math.inf, total), total


def _answered(status: int) -> Outcome:
    if status >= 500:
        return Outcome.SERVER_ERROR
    if status == 429:
        return Outcome.RATE_LIMITED
    if status >= 400:
        return Outcome.CLIENT_ERROR
    return Outcome.OK


def _failure(error: BaseException, trace: _Trace) -> Outcome | None:
    if isinstance(error, TimeoutError):
        # The total ran out; the trace says whether the request had left.
        unsent = trace.first is not None and not trace.sent
        return Outcome.CONNECT_TIMEOUT if unsent else Outcome.TIMEOUT
    if isinstance(error, httpx.PoolTimeout):
        return Outcome.BUSY
    if isinstance(error, httpx.ConnectTimeout):
        return Outcome.CONNECT_TIMEOUT
    if isinstance(error, httpx.ConnectError):
        return Outcome.CONNECT_ERROR
    if isinstance(error, httpx.TimeoutException):
        return Outcome.TIMEOUT
    if isinstance(error, Exception):
        return Outcome.TRANSPORT_ERROR

    # Cancelled by the caller: the provider is not to blame.
    return None


def _retry_after(value: str | None) -> float | None:
    # Only the delay-seconds form; an HTTP date is rare from game providers.
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return None
    return seconds
