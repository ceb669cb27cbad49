"""The provider's side of a protocol, as the conformance kit drives it.

An adapter package gives the kit a `ProviderClient`: the encoder of its
simulator, which sends the provider's own callbacks, signed as the provider
signs them, to a gateway's callback URL and reads each answer back into the
normalized terms below. The kit's scenarios are then the same for every
protocol.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from contracts.wallet import Status


@dataclass(frozen=True, slots=True)
class KitAnswer:
    """One callback the provider sent and the gateway's answer, normalized.

    `status` is the client's reading of the protocol's answer in the closed
    set of statuses (a protocol that answers a replayed debit with its own
    "already exists" code reads it as `Status.OK` with `replay` True when the
    answer says so). `balance` is in minor units, when the answer carries one.
    `request` and `path` are what was sent, so it can be sent again.
    """

    http_status: int
    status: Status
    balance: int | None
    path: str
    request: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    replay: bool = False
    transaction_ref: str | None = None
    body: bytes = b""


class ProviderClient(Protocol):
    """What the conformance kit needs from a protocol's provider-side client.

    `player` is the player reference the gateway gave at launch (the kit
    launches a game first and passes the reference and session token along;
    a protocol that carries no token ignores it). Amounts are minor units;
    the client converts them to the protocol's own money format.
    """

    async def balance(
        self, *, player: str, currency: str, session_token: str
    ) -> KitAnswer:
        """Ask for the player's balance."""
        ...

    async def debit(
        self,
        *,
        player: str,
        currency: str,
        amount: int,
        transaction_id: str,
        round_id: str,
        session_token: str,
        free_round: bool = False,
    ) -> KitAnswer:
        """Place a bet (a free-round bet when `free_round`, usually of zero)."""
        ...

    async def credit(
        self,
        *,
        player: str,
        currency: str,
        amount: int,
        transaction_id: str,
        round_id: str,
        session_token: str,
        debit_transaction_id: str | None,
        round_closed: bool = True,
    ) -> KitAnswer:
        """Pay a win, naming its bet where the protocol does."""
        ...

    async def rollback(
        self,
        *,
        player: str,
        currency: str,
        transaction_id: str,
        debit_transaction_id: str,
        amount: int,
        round_id: str,
        session_token: str,
    ) -> KitAnswer:
        """Roll back a bet, which the gateway may or may not have seen."""
        ...

    async def end_round(
        self, *, player: str, currency: str, round_id: str, session_token: str
    ) -> KitAnswer:
        """Close a round without moving money (a no-op answer where unsupported)."""
        ...

    async def resend(self, answer: KitAnswer) -> KitAnswer:
        """Send exactly the same request bytes and headers once more."""
        ...

    async def send_unsigned(self, answer: KitAnswer) -> KitAnswer:
        """Send the same request with a wrong signature or credential."""
        ...

    async def send_malformed(self, answer: KitAnswer) -> KitAnswer:
        """Send a correctly signed request whose body the protocol forbids."""
        ...
