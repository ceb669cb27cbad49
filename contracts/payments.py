"""The payment side of the contract: deposits and payouts through providers.

A payment adapter translates one payment provider's API and webhooks into
these terms. The gateway keeps every payment's state machine, deduplicates
webhook events, routes payments between providers and tells the casino;
the adapter holds no state, as game adapters do not.

The states move one way only. A late or repeated event never moves a
payment backwards; `can_move` is the single rule every part applies.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import ClassVar, Literal

from contracts.adapter import (
    CONTRACT_VERSION,
    AdapterConfig,
    AdapterContext,
    Callback,
    CallbackAnswer,
)
from contracts.errors import GamegateError, ProviderError
from contracts.money import Money


class PaymentKind(StrEnum):
    """Money coming in from the player, or going out to them."""

    DEPOSIT = "deposit"
    PAYOUT = "payout"


class PaymentMethod(StrEnum):
    """How the player pays or is paid."""

    CARD = "card"
    BANK_TRANSFER = "bank_transfer"
    EWALLET = "ewallet"
    CRYPTO = "crypto"


class PaymentOperation(StrEnum):
    """What a payment adapter may support; it declares which it does."""

    CREATE_DEPOSIT = "create_deposit"
    CREATE_PAYOUT = "create_payout"
    REFUND = "refund"
    VOID = "void"
    STATUS = "status"
    WEBHOOK = "webhook"


class PaymentState(StrEnum):
    """Every state a deposit or a payout can be in.

    Deposit: created → requires_action → pending → authorized → succeeded,
    ending in failed, canceled or expired, and after success refunded or
    reversed (a chargeback or a bank return). Payout: requested →
    pending_approval → processing → paid, ending in failed or canceled, and
    after payment returned.
    """

    CREATED = "created"
    REQUIRES_ACTION = "requires_action"
    PENDING = "pending"
    AUTHORIZED = "authorized"
    SUCCEEDED = "succeeded"
    REFUNDED = "refunded"
    REVERSED = "reversed"
    REQUESTED = "requested"
    PENDING_APPROVAL = "pending_approval"
    PROCESSING = "processing"
    PAID = "paid"
    RETURNED = "returned"
    FAILED = "failed"
    CANCELED = "canceled"
    EXPIRED = "expired"


_S = PaymentState
_DEPOSIT: Mapping[PaymentState, frozenset[PaymentState]] = {
    _S.CREATED: frozenset(
        {
            _S.REQUIRES_ACTION,
            _S.PENDING,
            _S.AUTHORIZED,
            _S.SUCCEEDED,
            _S.FAILED,
            _S.CANCELED,
            _S.EXPIRED,
        }
    ),
    _S.REQUIRES_ACTION: frozenset(
        {_S.PENDING, _S.AUTHORIZED, _S.SUCCEEDED, _S.FAILED, _S.CANCELED, _S.EXPIRED}
    ),
    _S.PENDING: frozenset(
        {_S.AUTHORIZED, _S.SUCCEEDED, _S.FAILED, _S.CANCELED, _S.EXPIRED}
    ),
    _S.AUTHORIZED: frozenset({_S.SUCCEEDED, _S.FAILED, _S.CANCELED, _S.EXPIRED}),
    _S.SUCCEEDED: frozenset({_S.REFUNDED, _S.REVERSED}),
}
_PAYOUT: Mapping[PaymentState, frozenset[PaymentState]] = {
    _S.REQUESTED: frozenset(
        {_S.PENDING_APPROVAL, _S.PROCESSING, _S.PAID, _S.FAILED, _S.CANCELED}
    ),
    _S.PENDING_APPROVAL: frozenset({_S.PROCESSING, _S.PAID, _S.FAILED, _S.CANCELED}),
    _S.PROCESSING: frozenset({_S.PAID, _S.FAILED}),
    _S.PAID: frozenset({_S.RETURNED}),
}
TRANSITIONS: Mapping[PaymentKind, Mapping[PaymentState, frozenset[PaymentState]]] = {
    PaymentKind.DEPOSIT: _DEPOSIT,
    PaymentKind.PAYOUT: _PAYOUT,
}
INITIAL: Mapping[PaymentKind, PaymentState] = {
    PaymentKind.DEPOSIT: _S.CREATED,
    PaymentKind.PAYOUT: _S.REQUESTED,
}


def can_move(kind: PaymentKind, current: PaymentState, target: PaymentState) -> bool:
    """Return whether a payment of `kind` may move from `current` to `target`.

    Staying in the same state is not a move; every other pair not listed in
    `TRANSITIONS` is refused, so no event moves a payment backwards.
    """
    return target in TRANSITIONS[kind].get(current, frozenset())


def is_final(kind: PaymentKind, state: PaymentState) -> bool:
    """Return whether no further state can follow `state`."""
    return not TRANSITIONS[kind].get(state)


@dataclass(frozen=True, slots=True, kw_only=True)
class PaymentRequest:
    """A deposit or payout the gateway asks a provider to start.

    `payment_id` is the gateway's id, sent to the provider as its merchant
    reference so webhooks can name it; `idempotency_key` is stable across
    retries of the same request to the same provider. `kyc` holds what the
    provider needs to know the player (names, birth date, address...), as
    the casino gave it.
    """

    payment_id: str
    kind: PaymentKind
    reference: str
    idempotency_key: str
    player: str
    amount: Money
    method: PaymentMethod
    country: str | None = None
    locale: str | None = None
    ip: str | None = None
    return_url: str | None = None
    cancel_url: str | None = None
    kyc: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class NextAction:
    """What the player must do next: follow a redirect, load an iframe, and so on.

    `kind` is one of redirect, iframe, client_secret or crypto_address;
    `value` is the URL, the secret or the address; `details` carries
    anything else the casino's page needs (a method, a memo or tag...).
    """

    kind: Literal["redirect", "iframe", "client_secret", "crypto_address"]
    value: str
    details: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class PaymentResult:
    """A provider's answer to a payment call, in normalized terms."""

    state: PaymentState
    provider_reference: str | None = None
    action: NextAction | None = None
    message: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class PaymentRecord:
    """What the gateway knows of a payment, handed to refund, void and status."""

    payment_id: str
    kind: PaymentKind
    state: PaymentState
    amount: Money
    provider_reference: str | None
    player: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PaymentEvent:
    """One event read from a provider's webhook, verified and normalized.

    `event_id` is the provider's identity of the event, the key the gateway
    deduplicates on. `payment_id` is the gateway's id where the provider
    echoes it, `provider_reference` the provider's. `amount` is what the
    event says moved, where it says so. `player` is the player reference
    where the provider names a player instead of a payment: a deposit to a
    permanent address arrives with `payment_id` None, and the gateway opens
    a payment for it, keyed by `provider_reference`.
    """

    event_id: str
    state: PaymentState
    payment_id: str | None = None
    provider_reference: str | None = None
    amount: Money | None = None
    occurred_at: datetime | None = None
    reason: str = ""
    player: str | None = None


class PaymentFailure(ProviderError):
    """A payment call failed; `outcome` says whether another provider may try.

    - `unreachable`: the request never reached the provider (connection
      refused, DNS, a connect timeout); nothing happened, another provider
      may be tried.
    - `declined`: the provider answered no. `shareable` False means another
      provider may well say yes (a method or country it does not serve, its
      own risk rule); True means the decline belongs to the player and no
      other provider is tried.
    - `unknown`: the request may have reached the provider and its outcome
      is not known (a read timeout, a 5xx after sending); never tried
      elsewhere, since the first provider may have taken the money.
    """

    def __init__(
        self,
        message: str,
        *,
        outcome: Literal["unreachable", "declined", "unknown"],
        shareable: bool = True,
        **context: object,
    ) -> None:
        super().__init__(message, retryable=outcome == "unreachable", **context)
        self.outcome = outcome
        self.shareable = shareable

    @property
    def may_fall_back(self) -> bool:
        """Whether the gateway may try the next provider with this payment."""
        if self.outcome == "unreachable":
            return True
        return self.outcome == "declined" and not self.shareable


@dataclass(frozen=True, slots=True, kw_only=True)
class PaymentCapabilities:
    """What a payment adapter supports, declared once."""

    operations: frozenset[PaymentOperation]
    methods: frozenset[PaymentMethod]
    signature: str
    money_format: str
    currencies: frozenset[str] | None = None


class PaymentAdapter(ABC):
    """A payment provider's API and webhooks behind the normalized contract."""

    name: ClassVar[str]
    version: ClassVar[str] = "0.0.0"
    kind: ClassVar[Literal["payment"]] = "payment"
    contract_version: ClassVar[str] = CONTRACT_VERSION
    config_model: ClassVar[type[AdapterConfig]]
    capabilities: ClassVar[PaymentCapabilities]
    webhook_paths: ClassVar[tuple[str, ...]]

    def __init__(self, config: AdapterConfig, context: AdapterContext) -> None:
        self.config = config
        self.context = context

    @abstractmethod
    async def create_deposit(self, request: PaymentRequest) -> PaymentResult:
        """Start a deposit; raise `PaymentFailure` when it cannot be started."""

    @abstractmethod
    async def create_payout(self, request: PaymentRequest) -> PaymentResult:
        """Start a payout; raise `PaymentFailure` when it cannot be started."""

    async def refund(self, payment: PaymentRecord, amount: Money) -> PaymentResult:
        """Refund a succeeded deposit; adapters that cannot refund refuse."""
        raise PaymentFailure("refunds are not supported", outcome="declined")

    async def void(self, payment: PaymentRecord) -> PaymentResult:
        """Cancel an authorized deposit or a requested payout before it settles."""
        raise PaymentFailure("voids are not supported", outcome="declined")

    async def status(self, payment: PaymentRecord) -> PaymentResult:
        """Ask the provider for a payment's current state."""
        raise PaymentFailure("status queries are not supported", outcome="declined")

    @abstractmethod
    def parse_webhook(self, callback: Callback) -> Sequence[PaymentEvent]:
        """Verify a webhook over its raw bytes, then read its events.

        Raises `InvalidSignature` before reading anything else, and
        `BadRequest` for a body the protocol does not allow. A batch of
        notifications gives several events; each is verified on its own
        where the protocol signs each.
        """

    @abstractmethod
    def acknowledge(
        self, callback: Callback, events: Sequence[PaymentEvent]
    ) -> CallbackAnswer:
        """Answer an accepted webhook in exactly the form the provider expects."""

    @abstractmethod
    def render_webhook_error(
        self, callback: Callback, error: GamegateError
    ) -> CallbackAnswer:
        """Answer a refused webhook (forged, malformed) in the provider's form."""
