"""Normalized wallet operations, their outcomes, and the adapter's profile.

An adapter turns one provider callback into a `WalletRequest`: who, which
currency, which round, and the operations to apply in order. The gateway's
ledger applies them all or none and answers with a `WalletOutcome`, which the
adapter renders in its own protocol.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Operation(StrEnum):
    """What a wallet operation does to a balance."""

    BALANCE = "balance"
    DEBIT = "debit"
    CREDIT = "credit"
    ROLLBACK = "rollback"
    END_ROUND = "end_round"


class CreditKind(StrEnum):
    """Why money is credited; each kind is reported apart."""

    WIN = "win"
    BONUS = "bonus"
    JACKPOT = "jackpot"
    PROMO = "promo"
    REFUND = "refund"
    ADJUSTMENT = "adjustment"


class Status(StrEnum):
    """The closed set of outcomes an adapter maps to its protocol's codes."""

    OK = "ok"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    UNKNOWN_PLAYER = "unknown_player"
    INVALID_SESSION = "invalid_session"
    SESSION_EXPIRED = "session_expired"
    PLAYER_BLOCKED = "player_blocked"
    LIMIT_REACHED = "limit_reached"
    GAME_NOT_ALLOWED = "game_not_allowed"
    WRONG_CURRENCY = "wrong_currency"
    TRANSACTION_NOT_FOUND = "transaction_not_found"
    TRANSACTION_MISMATCH = "transaction_mismatch"
    ALREADY_SETTLED = "already_settled"
    ALREADY_ROLLED_BACK = "already_rolled_back"
    ROUND_CLOSED = "round_closed"
    INVALID_SIGNATURE = "invalid_signature"
    BAD_REQUEST = "bad_request"
    RETRYABLE_ERROR = "retryable_error"
    FINAL_ERROR = "final_error"

    @property
    def retry(self) -> bool:
        """Whether the provider should send the same request again later."""
        return self is Status.RETRYABLE_ERROR


@dataclass(frozen=True, slots=True, kw_only=True)
class WalletOperation:
    """One money movement (or balance read, or round end) a provider asks for.

    `transaction_id` is the provider's id, the idempotency key, unique per
    provider instance. `amount` is in minor units of the request's currency.
    `reference_transaction_id` names the debit a rollback undoes, or the debit
    a credit settles where the protocol says so. `references` carries free
    round, bonus, jackpot or campaign ids.
    """

    operation: Operation
    transaction_id: str = ""
    amount: int = 0
    credit_kind: CreditKind | None = None
    reference_transaction_id: str | None = None
    references: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class WalletRequest:
    """Everything one provider callback asks of the wallet, in order.

    `player` is the player reference the gateway gave the provider at launch.
    A protocol that names only the session leaves `player` or `currency`
    empty and gives `session_token`: the gateway reads both from the session,
    which must belong to the instance. `authenticate` asks the gateway to
    check the session (issued, this instance's, not expired) even for a
    request that moves no money, as a protocol's authenticate call does.
    An empty `operations` tuple asks for the balance, or, with `round_closed`,
    only closes the round. `round_closed` closes the round after the
    operations are applied. `raw` is the callback body, kept for audit: an
    adapter whose protocol puts a secret or a signature inside the body
    leaves it out of `raw`.
    """

    player: str
    currency: str
    operations: tuple[WalletOperation, ...] = ()
    session_token: str | None = None
    game: str | None = None
    round_id: str | None = None
    round_closed: bool = False
    authenticate: bool = False
    raw: bytes = b""


@dataclass(frozen=True, slots=True, kw_only=True)
class OperationOutcome:
    """What became of one operation: its gateway id and when it was applied."""

    transaction_id: str
    gateway_transaction_id: str
    processed_at: datetime
    replay: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class WalletOutcome:
    """The ledger's answer to a `WalletRequest`.

    With `status` OK every operation was applied (or was a replay) and
    `operations` lists them in request order. Otherwise nothing was applied
    and `failed_transaction_id` names the operation that was refused.
    `balance` is in minor units of the request's currency, or None when the
    player or the currency is unknown. Where the gateway read the player and
    currency from the request's session, `player` and `currency` say which;
    otherwise `player` is empty and `currency` is the request's.
    """

    status: Status
    currency: str
    balance: int | None
    player: str = ""
    operations: tuple[OperationOutcome, ...] = ()
    failed_transaction_id: str | None = None
    message: str = ""

    @property
    def retry(self) -> bool:
        """Whether the provider should send the same request again later."""
        return self.status.retry


@dataclass(frozen=True, slots=True, kw_only=True)
class Profile:
    """How a protocol answers where providers disagree; the core applies it.

    - `unknown_rollback`: the status given to a rollback of a transaction the
      ledger has never seen (it moves nothing and is remembered either way).
    - `credit_without_debit`: whether a credit may settle a round that had no
      debit (some game types pay without a bet).
    - `reverse_settled`: whether a rollback may undo a debit whose round was
      already settled, or undo a credit.
    """

    unknown_rollback: Status = Status.OK
    credit_without_debit: bool = True
    reverse_settled: bool = False
