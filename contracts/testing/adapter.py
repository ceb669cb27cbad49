"""The adapter under test: what an adapter package tells the conformance kit.

A package defines a pytest fixture named `gamegate_adapter` that returns an
`AdapterUnderTest`. It names the adapter and the plugin that registers it,
the provider instance's settings, the studio-side client that speaks the
protocol, the currencies the protocol carries, and the few behaviours in
which protocols legitimately differ. Nothing here imports the gateway.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Literal

from contracts.testing.client import ProviderClient
from contracts.wallet import Status

ClientFactory = Callable[[str, dict[str, Any]], ProviderClient]
"""Builds the provider-side client from the callback URL and the settings."""

SimulatorFactory = Callable[[dict[str, Any]], AbstractAsyncContextManager[str]]
"""Starts the provider's simulator for the settings and yields its base URL."""

ReplayAnswer = Literal["original", "duplicate"]
"""How a protocol answers a replay: as the original, or with a duplicate code."""

# Past 2**53 a binary float no longer holds every integer, so an amount this
# large shows any float on the money path.
LARGE_AMOUNT = 2**53 + 1


@dataclass(frozen=True, slots=True, kw_only=True)
class AdapterUnderTest:
    """One adapter as the conformance kit runs it, and how its protocol differs.

    - `adapter`: the name the adapter registers under.
    - `plugin`: the module or object implementing `register_adapters`; the kit
      loads it in-process and blocks every other installed plugin.
    - `client`: builds the provider-side client from the gateway's callback
      URL for the instance and the instance's settings. A client with an
      `aclose()` coroutine method is closed after each test.
    - `currencies`: each currency code the protocol carries, with the
      exponent the gateway configures for it, or None for an ISO 4217 code.
      The first one is the currency of the default test player.
    - `settings`: the provider instance's config keys, without `adapter`.
    - `launch_simulator`: starts the provider's simulator for the settings and
      yields its base URL, which the kit puts in the settings as `base_url`.
    - `launch_needs_provider`: whether a launch calls the provider; without a
      simulator such an adapter's sessions are opened in the database.
    - `game`: the game id launched for each test player.
    - `credit_names_debit`: whether the protocol's credits name their debit.
    - `end_round_message`: whether the protocol closes a round with a message
      of its own; without one, the closing credit closes the round.
    - `replay_answer`: how the protocol answers a replayed transaction, either
      as the original (same status, balance and transaction reference) or
      with its duplicate code, which the client reads as OK with `replay`.
    - `catch_all_refusal`: the status, or the statuses, the client reads for
      protocol codes that cover several refusals (softswiss's 400), accepted
      wherever a more precise refusal is expected; None when every refusal
      has its own code.
    - `rollback_has_own_id`: whether a rollback carries a transaction id of
      its own; a protocol that names only the bet it undoes (the adapter
      derives the rollback's id from it) cannot send one rollback id twice
      with other content, so that scenario does not apply.
    - `large_amount`: a large amount in minor units that the protocol carries
      exactly; the default is past the precision of a binary float.
    """

    adapter: str
    plugin: object
    client: ClientFactory
    currencies: Mapping[str, int | None]
    settings: Mapping[str, Any] = field(default_factory=dict)
    launch_simulator: SimulatorFactory | None = None
    launch_needs_provider: bool = True
    game: str = "conformance:game"
    credit_names_debit: bool = False
    end_round_message: bool = True
    replay_answer: ReplayAnswer = "original"
    catch_all_refusal: Status | frozenset[Status] | None = None
    rollback_has_own_id: bool = True
    large_amount: int = LARGE_AMOUNT

    def __post_init__(self) -> None:
        if not self.currencies:
            raise ValueError("an adapter under test declares at least one currency")
        if self.large_amount < 2:
            raise ValueError("large_amount must be at least 2 minor units")
        if self.replay_answer not in ("original", "duplicate"):
            raise ValueError("replay_answer must be 'original' or 'duplicate'")

    @property
    def default_currency(self) -> str:
        """Return the currency of the default test player: the first declared."""
        return next(iter(self.currencies))

    def configured_exponents(self) -> dict[str, int]:
        """Return the exponents the gateway must configure: the non-ISO ones."""
        return {
            code: exponent
            for code, exponent in self.currencies.items()
            if exponent is not None
        }

    def refused_as(self, status: Status, *expected: Status) -> bool:
        """Return whether a read status is one of the expected refusals."""
        if status in expected:
            return True

        if isinstance(self.catch_all_refusal, frozenset):
            return status in self.catch_all_refusal
        return self.catch_all_refusal is not None and status is self.catch_all_refusal
