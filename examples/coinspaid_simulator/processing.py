"""A simulated CoinsPaid merchant account: permanent addresses and payouts.

`Processing` holds the account and its rules, as CoinsPaid applies them to
`addresses/take` (the same address for the same `foreign_id` and currency,
a new one otherwise, with a tag for currencies that need a memo) and to
`withdrawal/crypto` (enabled currency, minimum, eight decimals, address
form, memo, unique `foreign_id`, balance). `examples.coinspaid_simulator.api`
serves it over HTTP, checking `X-Processing-Key` and `X-Processing-Signature`
(hex HMAC-SHA512 of the raw body under the secret) on every request.
Refusals look like CoinsPaid's: `{"errors": {field: message}}`, and a 403
with `{"error", "code"}` for a bad key or signature.

Then it notifies: `Processing.deposit` plays a player paying into an
address (callbacks `not_confirmed` then `confirmed` by default, in any order
asked for), `Processing.settle_withdrawal` the end of a payout, each posted
signed to `webhook_url` by a `CallbackClient`.

The wording of refusals other than those CoinsPaid documents (an invalid
address, a missing tag) is this simulator's. Ids and addresses come from
`random.Random(seed)`, so a run is repeatable.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import random
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from examples.coinspaid_simulator.callbacks import (
    CallbackClient,
    Delivery,
    Forgery,
    deposit_callback,
    withdrawal_callback,
)

# Enabled currencies and the smallest withdrawal CoinsPaid takes in each.
DEFAULT_MINIMUMS: Mapping[str, Decimal] = {
    "BTC": Decimal("0.0001"),
    "ETH": Decimal("0.001"),
    "USDT": Decimal("1"),
    "LTC": Decimal("0.001"),
    "XRP": Decimal("1"),
}
TAGGED = frozenset({"XRP"})
MAX_DECIMALS = 8
_ADDRESS_FORMS: Mapping[str, re.Pattern[str]] = {
    "BTC": re.compile(r"(bc1|tb1|[13])[a-zA-HJ-NP-Z0-9]{25,62}"),
    "LTC": re.compile(r"(ltc1|[LM3])[a-zA-HJ-NP-Z0-9]{25,62}"),
    "ETH": re.compile(r"0x[0-9a-fA-F]{40}"),
    "USDT": re.compile(r"0x[0-9a-fA-F]{40}"),
    "XRP": re.compile(r"r[1-9A-HJ-NP-Za-km-z]{24,34}"),
}
_BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


@dataclass(frozen=True, slots=True)
class DepositAddress:
    """A permanent address CoinsPaid handed out for one foreign id and currency."""

    id: int
    foreign_id: str
    currency: str
    address: str
    tag: str | None = None
    convert_to: str | None = None


@dataclass(frozen=True, slots=True)
class Withdrawal:
    """A withdrawal CoinsPaid accepted, and its status."""

    id: int
    foreign_id: str
    currency: str
    amount: str
    address: str
    tag: str | None
    status: str


@dataclass(frozen=True, slots=True)
class Fault:
    """One way for the API to misbehave on a request.

    `hang` never answers (until released or stopped); `reset` drops the
    connection once the request has arrived; `status` answers `status` with
    `document` as the body.
    """

    kind: Literal["hang", "reset", "status"]
    status: int = 500
    document: Mapping[str, Any] | None = None

    @classmethod
    def hang(cls) -> Fault:
        """Never answer."""
        return cls("hang")

    @classmethod
    def reset(cls) -> Fault:
        """Drop the connection once the request has arrived."""
        return cls("reset")

    @classmethod
    def error(cls, status: int, document: Mapping[str, Any] | None = None) -> Fault:
        """Answer `status`, with a JSON body when given."""
        return cls("status", status=status, document=document)


class Refusal(Exception):
    """A request the simulated CoinsPaid refuses, with its answer."""

    def __init__(self, status: int, document: Mapping[str, Any]) -> None:
        super().__init__(status, document)
        self.status = status
        self.document = document


class Processing:
    """The simulated CoinsPaid account: its keys, addresses, payouts and balances.

    `webhook_url` is where callbacks go; `settle_after`, when set while
    serving, confirms each accepted withdrawal that many seconds later.
    `approval_limit` sends a withdrawal above it to `pending`, as a
    merchant's withdrawal limits do.
    """

    def __init__(
        self,
        public_key: str,
        secret: str,
        *,
        webhook_url: str | None = None,
        minimums: Mapping[str, Decimal] = DEFAULT_MINIMUMS,
        balances: Mapping[str, Decimal] | None = None,
        approval_limit: Decimal | None = None,
        settle_after: float | None = None,
        seed: int = 0,
    ) -> None:
        self.public_key = public_key
        self.secret = secret
        self.webhook_url = webhook_url
        self.minimums = dict(minimums)
        self.balances = dict(
            balances or {code: Decimal(1000) for code in self.minimums}
        )
        self.approval_limit = approval_limit
        self.settle_after = settle_after
        self.addresses: dict[tuple[str, str], DepositAddress] = {}
        self.withdrawals: dict[str, Withdrawal] = {}
        self.deliveries: list[Delivery] = []
        self.received: Counter[str] = Counter()
        self._random = random.Random(seed)
        self._next_id = 2_686_500 + self._random.randrange(1000)
        self._faults: list[Fault] = []
        self._released = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    def sign(self, body: bytes) -> str:
        """Return the `X-Processing-Signature` of a body under the secret."""
        return hmac.new(self.secret.encode(), body, hashlib.sha512).hexdigest()

    def inject(self, fault: Fault, times: int = 1) -> None:
        """Misbehave on the next `times` API requests."""
        self._faults.extend([fault] * times)

    def release(self) -> None:
        """Let every hanging request end, with its connection dropped."""
        self._released.set()
        self._released = asyncio.Event()

    def next_fault(self) -> Fault | None:
        """Return the fault the next API request meets, if any."""
        return self._faults.pop(0) if self._faults else None

    def take_address(self, document: Mapping[str, Any]) -> DepositAddress:
        """Return the permanent address for a foreign id and currency."""
        foreign_id = _required(document, "foreign_id")
        currency = self._enabled(document.get("currency"))
        convert_to = document.get("convert_to")
        if convert_to is not None and not isinstance(convert_to, str):
            raise Refusal(400, {"errors": {"convert_to": "Invalid currency pair."}})

        existing = self.addresses.get((foreign_id, currency))
        if existing is not None:
            return existing
        address = DepositAddress(
            id=self._new_id(),
            foreign_id=foreign_id,
            currency=currency,
            address=self._new_address(currency),
            tag=str(self._random.randrange(10**8, 10**9))
            if currency in TAGGED
            else None,
            convert_to=convert_to,
        )
        self.addresses[(foreign_id, currency)] = address

        return address

    def withdraw(self, document: Mapping[str, Any]) -> Withdrawal:
        """Check a withdrawal request, debit the balance and record it."""
        foreign_id = _required(document, "foreign_id")
        currency = self._enabled(document.get("currency"))
        amount = self._amount(document.get("amount"), currency)
        address = _required(document, "address")
        form = _ADDRESS_FORMS.get(currency)
        if form is not None and not form.fullmatch(address):
            raise Refusal(400, {"errors": {"address": "The address is invalid."}})
        tag = document.get("tag")
        if currency in TAGGED and not tag:
            raise Refusal(
                400, {"errors": {"tag": f"The tag field is required for {currency}."}}
            )
        if foreign_id in self.withdrawals:
            raise Refusal(
                400,
                {"errors": {"foreign_id": "The foreign id has already been taken."}},
            )
        if amount > self.balances.get(currency, Decimal(0)):
            raise Refusal(400, {"errors": {"amount": "Not enough money on balance"}})

        self.balances[currency] -= amount
        pending = self.approval_limit is not None and amount > self.approval_limit
        withdrawal = Withdrawal(
            id=self._new_id(),
            foreign_id=foreign_id,
            currency=currency,
            amount=f"{amount:.8f}",
            address=address,
            tag=tag if isinstance(tag, str) else None,
            status="pending" if pending else "processing",
        )
        self.withdrawals[foreign_id] = withdrawal

        return withdrawal

    async def deposit(
        self,
        foreign_id: str,
        currency: str,
        amount: str,
        *,
        statuses: Sequence[str] = ("not_confirmed", "confirmed"),
        amounts_as_numbers: bool = False,
        forge: Forgery | None = None,
        convert_to: str | None = None,
        received: str | None = None,
    ) -> list[Delivery]:
        """Play a player paying `amount` into their address; one callback a status.

        The address is taken if the player has none yet. Every callback of
        one deposit carries the same transaction id.
        """
        address = self.take_address({"foreign_id": foreign_id, "currency": currency})
        if convert_to is not None:
            address = replace(address, convert_to=convert_to)
        transaction_id = self._new_id()
        txid = f"{self._random.getrandbits(256):064x}"
        deliveries = []
        for status in statuses:
            document = deposit_callback(
                transaction_id,
                status,
                address_id=address.id,
                address=address.address,
                foreign_id=foreign_id,
                currency=currency,
                amount=amount,
                tag=address.tag,
                convert_to=address.convert_to,
                received=received,
                txid=txid,
                error="Double spend" if status == "cancelled" else "",
            )
            deliveries.append(
                await self.notify(
                    document, amounts_as_numbers=amounts_as_numbers, forge=forge
                )
            )

        return deliveries

    async def settle_withdrawal(
        self,
        foreign_id: str,
        statuses: Sequence[str] = ("confirmed",),
        *,
        amounts_as_numbers: bool = False,
        forge: Forgery | None = None,
    ) -> list[Delivery]:
        """Send a withdrawal's callbacks, one a status, and record its last status."""
        withdrawal = self.withdrawals[foreign_id]
        txid = f"{self._random.getrandbits(256):064x}"
        deliveries = []
        for status in statuses:
            if status == "cancelled":
                self.balances[withdrawal.currency] += Decimal(withdrawal.amount)
            withdrawal = replace(withdrawal, status=status)
            self.withdrawals[foreign_id] = withdrawal
            document = withdrawal_callback(
                withdrawal.id,
                status,
                foreign_id=foreign_id,
                currency=withdrawal.currency,
                amount=withdrawal.amount,
                address=withdrawal.address,
                tag=withdrawal.tag,
                txid=txid if status == "confirmed" else "",
                error="Cancelled by the processing" if status == "cancelled" else "",
            )
            deliveries.append(
                await self.notify(
                    document, amounts_as_numbers=amounts_as_numbers, forge=forge
                )
            )

        return deliveries

    async def notify(
        self,
        document: Mapping[str, Any],
        *,
        amounts_as_numbers: bool = False,
        forge: Forgery | None = None,
    ) -> Delivery:
        """Post one signed callback body to `webhook_url` and keep the delivery."""
        async with self._client() as client:
            delivery = await client.send(
                document, amounts_as_numbers=amounts_as_numbers, forge=forge
            )
        self.deliveries.append(delivery)

        return delivery

    async def retransmit(self, delivery: Delivery) -> Delivery:
        """Send an earlier callback again, byte for byte, as CoinsPaid's retry does."""
        async with self._client() as client:
            again = await client.retransmit(delivery)
        self.deliveries.append(again)

        return again

    def schedule_settlement(self, foreign_id: str) -> None:
        """Confirm a withdrawal `settle_after` seconds from now, if both are set."""
        if self.settle_after is None or self.webhook_url is None:
            return
        task = asyncio.get_running_loop().create_task(self._settle_later(foreign_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def hang(self) -> None:
        """Wait until `release` or `close`: how a hanging request never answers."""
        await self._released.wait()

    def close(self) -> None:
        """Stop misbehaving, end hanging requests and drop pending settlements."""
        self._faults.clear()
        self.release()
        for task in list(self._tasks):
            task.cancel()

    async def _settle_later(self, foreign_id: str) -> None:
        assert self.settle_after is not None  # checked by schedule_settlement
        await asyncio.sleep(self.settle_after)
        await self.settle_withdrawal(foreign_id)

    def _client(self) -> CallbackClient:
        if self.webhook_url is None:
            raise RuntimeError("set webhook_url before sending callbacks")

        return CallbackClient(self.webhook_url, self.public_key, self.secret)

    def _enabled(self, currency: object) -> str:
        if not isinstance(currency, str) or not currency:
            raise Refusal(
                400, {"errors": {"currency": "The currency field is required."}}
            )
        if currency not in self.minimums:
            raise Refusal(
                400,
                {
                    "errors": {
                        "currency": f"Currency {currency[:16]} is not enabled"
                        " for your merchant"
                    },
                    "error_code": "forbidden_currency",
                },
            )

        return currency

    def _amount(self, value: object, currency: str) -> Decimal:
        try:
            if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
                raise InvalidOperation
            amount = Decimal(value)
        except InvalidOperation:
            raise Refusal(
                400, {"errors": {"amount": "The amount must be a number."}}
            ) from None
        if not amount.is_finite() or amount <= 0:
            raise Refusal(400, {"errors": {"amount": "The amount must be positive."}})
        exponent = amount.normalize().as_tuple().exponent
        if isinstance(exponent, int) and -exponent > MAX_DECIMALS:
            raise Refusal(
                400, {"errors": {"amount": "The amount may have at most 8 decimals."}}
            )
        minimum = self.minimums[currency]
        if amount < minimum:
            raise Refusal(
                400, {"errors": {"amount": f"The amount must be at least {minimum}."}}
            )

        return amount

    def _new_id(self) -> int:
        self._next_id += 1 + self._random.randrange(7)
        return self._next_id

    def _new_address(self, currency: str) -> str:
        if currency in ("ETH", "USDT"):
            return f"0x{self._random.getrandbits(160):040x}"
        tail = "".join(self._random.choice(_BASE58) for _ in range(30))
        if currency == "XRP":
            return f"r{tail}"
        if currency == "LTC":
            return f"ltc1{tail.lower()}"

        return f"bc1q{tail.lower()}"


def _required(document: Mapping[str, Any], field: str) -> str:
    value = document.get(field)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or not value:
        name = field.replace("_", " ")
        raise Refusal(400, {"errors": {field: f"The {name} field is required."}})

    return value
