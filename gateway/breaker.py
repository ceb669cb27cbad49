"""The circuit breaker of one provider instance.

Closed, it counts consecutive failures (timeouts, connection failures,
5xx) and opens at its threshold; open, it refuses every request until its
cool-down has passed; half-open, it admits exactly one probe, whose answer
closes or re-opens it. `gateway.resilience` calls it around every outbound
request; nothing here knows about HTTP beyond the error it raises.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import httpx


class CircuitOpen(httpx.ConnectError):
    """The instance's circuit breaker refused the request; nothing was sent."""


class BreakerState(StrEnum):
    """The three states of a circuit breaker."""

    CLOSED = "closed"
    HALF_OPEN = "half_open"
    OPEN = "open"

    @property
    def gauge(self) -> int:
        """Return the state's value on the `provider_breaker_state` gauge."""
        return {"closed": 0, "half_open": 1, "open": 2}[self.value]


@dataclass(frozen=True, slots=True)
class Permit:
    """A breaker's leave for one request: which state it was given in."""

    generation: int
    probe: bool


class Breaker:
    """A circuit breaker for one provider instance.

    Closed, it counts consecutive failures (timeouts, connection failures,
    5xx; any answer below 500 resets the count) and opens at `failures`.
    Open, it refuses every request until `cooldown` seconds have passed;
    then it is half-open and admits exactly one probe, refusing every other
    request while the probe is in flight. The probe's success closes it,
    its failure opens it again. Results of requests admitted before the
    last change of state are ignored.
    """

    def __init__(
        self,
        failures: int,
        cooldown: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[BreakerState], None] | None = None,
    ) -> None:
        self.threshold = failures
        self.cooldown = cooldown
        self._clock = clock
        self._on_change = on_change
        self._state = BreakerState.CLOSED
        self._generation = 0
        self._failures = 0
        self._opened_at = 0.0
        self.probing = False

    @property
    def state(self) -> BreakerState:
        """Return the state now; an open breaker past its cool-down is half-open."""
        if (
            self._state is BreakerState.OPEN
            and self._clock() - self._opened_at >= self.cooldown
        ):
            self._enter(BreakerState.HALF_OPEN)
        return self._state

    @property
    def failures(self) -> int:
        """Return the current run of consecutive failures."""
        return self._failures

    def retry_in(self) -> float:
        """Return the seconds left of the cool-down, 0 when not open."""
        if self.state is not BreakerState.OPEN:
            return 0.0
        return max(0.0, self.cooldown - (self._clock() - self._opened_at))

    def admit(self) -> Permit:
        """Admit one request or raise `CircuitOpen`."""
        state = self.state
        if state is BreakerState.CLOSED:
            return Permit(self._generation, probe=False)
        if state is BreakerState.HALF_OPEN and not self.probing:
            self.probing = True
            return Permit(self._generation, probe=True)

        raise CircuitOpen(f"circuit breaker {state.value}")

    def succeeded(self, permit: Permit) -> None:
        """Record an answer from the provider (any status below 500)."""
        if permit.generation != self._generation:
            return
        if permit.probe:
            self.probing = False
            self._enter(BreakerState.CLOSED)
        self._failures = 0

    def failed(self, permit: Permit) -> None:
        """Record a timeout, a connection failure or a 5xx."""
        if permit.generation != self._generation:
            return
        if permit.probe:
            self.probing = False
            self._enter(BreakerState.OPEN)
            return
        self._failures += 1
        if self._failures >= self.threshold:
            self._enter(BreakerState.OPEN)

    def abandoned(self, permit: Permit) -> None:
        """Record a request that never reached the provider, for our own reasons."""
        if permit.probe and permit.generation == self._generation:
            self.probing = False

    def _enter(self, state: BreakerState) -> None:
        self._state = state
        self._generation += 1
        self._failures = 0
        if state is BreakerState.OPEN:
            self._opened_at = self._clock()
        if self._on_change is not None:
            self._on_change(state)
