"""The three real payment providers, each as its simulator and its instance.

A rig serves one provider's simulator on loopback, gives the gateway the
provider instance that points at it, and plays the provider's side of the
flows the end-to-end tests drive: a deposit's success path, the last
webhook repeated, the success path out of order, a forged webhook, and a
payout's course. Every webhook goes over HTTP to the gateway's own URL,
signed as the provider signs it; where a step is the merchant's (Adyen's
payout review, Trustly's approval of a withdrawal) the rig calls the
adapter's own method, since the gateway exposes no approval step.
"""

from __future__ import annotations

import functools
import secrets
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

import orjson
from payment_fakes import OPERATOR, PLAYER, Gateway

from adapters.adyen import AdyenAdapter
from adapters.trustly.adapter import TrustlyAdapter
from contracts.payments import PaymentRecord, PaymentState
from examples.adyen_simulator import DEFAULT_MERCHANT, AdyenSimulator, notification_item
from examples.adyen_simulator import Delivery as AdyenDelivery
from examples.coinspaid_simulator import Delivery as CoinspaidDelivery
from examples.coinspaid_simulator import Processing, serve
from examples.trustly_simulator import API_PATH, KeyPair, Reply, TrustlySimulator
from examples.trustly_simulator import Notification as TrustlyNotification
from gateway.ledger import player_ref
from gateway.reload import RUNTIME

RETURN_URL = "https://casino.example/back"
BTC_ADDRESS = "bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh"
POLICY: dict[str, Any] = {
    "timeouts": {"connect": 1, "total": 3},
    "retries": {"attempts": 1},
}


@functools.cache
def key_pair(owner: str) -> KeyPair:
    """Return one RSA key pair per owner for the whole run; making one is slow."""
    return KeyPair.generate()


@dataclass(frozen=True, slots=True)
class Heard:
    """One webhook a simulator sent and what the gateway answered it."""

    status: int
    accepted: bool
    body: bytes


class Rig(ABC):
    """One provider's simulator and instance, and its side of every flow."""

    instance: ClassVar[str]
    currency: ClassVar[str] = "EUR"
    amount: ClassVar[str] = "25.00"
    payout_amount: ClassVar[str] = "15.00"
    # The states the credited deposit and the payout move through, in order.
    deposit_moves: ClassVar[tuple[str, ...]]
    payout_moves: ClassVar[tuple[str, ...]]

    url = ""
    gateway: Gateway

    def connect(self, gateway: Gateway) -> None:
        """Point the rig's webhooks at a running gateway."""
        self.gateway = gateway

    @abstractmethod
    def serve(self) -> AbstractAsyncContextManager[None]:
        """Serve the simulator on loopback until the context ends."""

    @abstractmethod
    def provider(self, gateway_url: str) -> dict[str, Any]:
        """Return the provider instance's config, pointing at the simulator."""

    @abstractmethod
    def deposit_fields(self) -> dict[str, Any]:
        """Return the operator API fields a deposit through this provider needs."""

    @abstractmethod
    def payout_fields(self) -> dict[str, Any]:
        """Return the operator API fields a payout through this provider needs."""

    @abstractmethod
    def received_deposit(self, payment: dict[str, Any]) -> bool:
        """Return whether the simulator holds the deposit the gateway created."""

    @abstractmethod
    async def succeed(self, payment: dict[str, Any]) -> tuple[str, list[Heard]]:
        """Send the success path's webhooks; return the credited payment's id."""

    @abstractmethod
    async def repeat(self) -> Heard:
        """Send the last webhook again, byte for byte, as a provider's retry does."""

    @abstractmethod
    async def succeed_out_of_order(
        self, payment: dict[str, Any]
    ) -> tuple[str, list[Heard]]:
        """Send the success path with an earlier webhook arriving after the last."""

    @abstractmethod
    async def forge(self, payment: dict[str, Any]) -> Heard:
        """Send a success webhook for the payment that is not the provider's."""

    @abstractmethod
    def refused_in_form(self, heard: Heard) -> bool:
        """Return whether a refusal is answered in the provider's own form."""

    @abstractmethod
    async def pay_out(self, payment: dict[str, Any]) -> list[Heard]:
        """Take a requested payout through the provider's flow to paid."""

    async def record(self, payment_id: str) -> PaymentRecord:
        """Return what the gateway knows of a payment, as adapters are handed it."""
        stored = await self.gateway.payments.store.get(payment_id)
        assert stored is not None
        return stored.record()

    def adapter(self) -> object:
        """Return the running gateway's adapter of this instance."""
        return self.gateway.app[RUNTIME].adapters[self.instance]


class AdyenRig(Rig):
    """Adyen: a Drop-in session, AUTHORISATION, a reviewed classic payout."""

    instance = "adyen-eu"
    deposit_moves = ("created", "requires_action", "succeeded")
    payout_moves = ("requested", "pending_approval", "paid")

    def __init__(self) -> None:
        self.api_key = secrets.token_urlsafe(24)
        self.review_key = secrets.token_urlsafe(24)
        self.hmac_key = secrets.token_hex(32)
        self.simulator = AdyenSimulator(
            self.api_key, self.hmac_key, review_api_key=self.review_key
        )
        self._last = b""

    @asynccontextmanager
    async def serve(self) -> AsyncIterator[None]:
        """Serve the simulated Checkout and Payout APIs."""
        async with self.simulator.serve() as url:
            self.url = url
            yield

    def provider(self, gateway_url: str) -> dict[str, Any]:
        """Return an `adyen` instance with the submitter and reviewer keys."""
        return {
            **POLICY,
            "adapter": "adyen",
            "checkout_url": self.url,
            "payout_url": f"{self.url}/pal/servlet",
            "api_key": self.api_key,
            "review_api_key": self.review_key,
            "merchant_account": DEFAULT_MERCHANT,
            "hmac_key": self.hmac_key,
        }

    def deposit_fields(self) -> dict[str, Any]:
        """Return a card deposit with the return URL Adyen needs."""
        return {"method": "card", "return_url": RETURN_URL}

    def payout_fields(self) -> dict[str, Any]:
        """Return a bank payout with what `storeDetailAndSubmitThirdParty` needs."""
        kyc = {
            "email": "ada@example.com",
            "date_of_birth": "1990-01-01",
            "nationality": "DE",
            "iban": "DE89 3704 0044 0532 0130 00",
            "account_holder": "Ada L",
            "first_name": "Ada",
            "last_name": "L",
        }
        return {"method": "bank_transfer", "kyc": kyc}

    def received_deposit(self, payment: dict[str, Any]) -> bool:
        """Return whether Adyen opened a session for the payment."""
        held = self.simulator.payments.get(payment["id"])
        return held is not None and held.session_id is not None

    async def succeed(self, payment: dict[str, Any]) -> tuple[str, list[Heard]]:
        """Send the AUTHORISATION that ends a paid session."""
        item = self.simulator.authorisation(payment["id"])
        delivery = await self.simulator.notifier.notify(self._webhook, item)
        self._last = delivery.body

        return payment["id"], [_adyen(delivery)]

    async def repeat(self) -> Heard:
        """Post the last batch again, as Adyen's retry queue does."""
        return _adyen(await self.simulator.notifier.post(self._webhook, self._last))

    async def succeed_out_of_order(
        self, payment: dict[str, Any]
    ) -> tuple[str, list[Heard]]:
        """Send the AUTHORISATION, then that of an earlier refused attempt.

        A session may take several attempts under one merchantReference,
        each with its own pspReference; the refusal of the first can reach
        the merchant after the success of the second.
        """
        payment_id, heard = await self.succeed(payment)
        refused = notification_item(
            self.hmac_key,
            event_code="AUTHORISATION",
            psp_reference=self.simulator.new_psp_reference(),
            merchant_account=DEFAULT_MERCHANT,
            merchant_reference=payment_id,
            amount=self.simulator.payment(payment_id).amount,
            success=False,
            reason="Refused",
        )
        late = await self.simulator.notifier.notify(self._webhook, refused)

        return payment_id, [*heard, _adyen(late)]

    async def forge(self, payment: dict[str, Any]) -> Heard:
        """Post an AUTHORISATION signed under a key that is not the merchant's."""
        item = self.simulator.authorisation(payment["id"])
        return _adyen(await self.simulator.notifier.notify_forged(self._webhook, item))

    def refused_in_form(self, heard: Heard) -> bool:
        """Adyen is refused with a non-2xx status and no `[accepted]`."""
        return heard.status == 401 and heard.body == b"invalid_signature"

    async def pay_out(self, payment: dict[str, Any]) -> list[Heard]:
        """Confirm the submitted payout as the reviewer, then send PAYOUT_THIRDPARTY."""
        adapter = self.adapter()
        assert isinstance(adapter, AdyenAdapter)
        confirmed = await adapter.confirm_payout(await self.record(payment["id"]))
        assert confirmed.state is PaymentState.PROCESSING
        assert self.simulator.payment(payment["id"]).status == "confirmed"

        item = self.simulator.item(payment["id"], "PAYOUT_THIRDPARTY")
        delivery = await self.simulator.notifier.notify(self._webhook, item)

        return [_adyen(delivery)]

    @property
    def _webhook(self) -> str:
        return f"{self.gateway.url}/providers/{self.instance}/notifications"


class TrustlyRig(Rig):
    """Trustly: a Deposit, pending then credit; a Withdraw, approved and paid."""

    instance = "trustly-eu"
    deposit_moves = ("created", "requires_action", "pending", "succeeded")
    payout_moves = ("requested", "pending_approval", "processing", "paid")

    def __init__(self) -> None:
        self.merchant = key_pair("merchant")
        self.simulator = TrustlySimulator(
            self.merchant.public_pem, keys=key_pair("trustly")
        )
        self._last: TrustlyNotification | None = None

    @asynccontextmanager
    async def serve(self) -> AsyncIterator[None]:
        """Serve the simulated JSON-RPC API."""
        async with self.simulator.serve() as base_url:
            self.url = f"{base_url}{API_PATH}"
            yield

    def provider(self, gateway_url: str) -> dict[str, Any]:
        """Return a `trustly` instance whose NotificationURL is the gateway's."""
        return {
            **POLICY,
            "adapter": "trustly",
            "api_url": self.url,
            "username": self.simulator.username,
            "password": self.simulator.password,
            "private_key": self.merchant.private_pem,
            "trustly_public_key": self.simulator.public_pem,
            "notification_url": f"{gateway_url}/providers/{self.instance}",
        }

    def deposit_fields(self) -> dict[str, Any]:
        """Return a bank transfer deposit with a country and a return URL."""
        return {"method": "bank_transfer", "return_url": RETURN_URL}

    def payout_fields(self) -> dict[str, Any]:
        """Return a bank transfer payout through `Withdraw`."""
        return {"method": "bank_transfer", "return_url": RETURN_URL}

    def received_deposit(self, payment: dict[str, Any]) -> bool:
        """Return whether Trustly holds a Deposit order for the payment."""
        order = self.simulator.orders.get(payment["provider_reference"] or "")
        return order is not None and order.message_id == payment["id"]

    async def succeed(self, payment: dict[str, Any]) -> tuple[str, list[Heard]]:
        """Send `pending`, then `credit`, to the order's NotificationURL."""
        heard = [
            await self._notify(payment, "pending"),
            await self._notify(payment, "credit"),
        ]
        return payment["id"], heard

    async def repeat(self) -> Heard:
        """Send the last notification again, same notificationid and all."""
        assert self._last is not None
        return _trustly(await self.simulator.notify(self._last))

    async def succeed_out_of_order(
        self, payment: dict[str, Any]
    ) -> tuple[str, list[Heard]]:
        """Send `credit` first and `pending` after it."""
        heard = [
            await self._notify(payment, "credit"),
            await self._notify(payment, "pending"),
        ]
        return payment["id"], heard

    async def forge(self, payment: dict[str, Any]) -> Heard:
        """Send a `credit` signed with a key that is not Trustly's."""
        order = payment["provider_reference"]
        forged = self.simulator.notification(order, "credit").forged(
            key_pair("stranger")
        )
        return _trustly(await self.simulator.notify(forged))

    def refused_in_form(self, heard: Heard) -> bool:
        """A forged notification gets HTTP 401 and a JSON-RPC error, unsigned."""
        document = orjson.loads(heard.body)
        return heard.status == 401 and "result" not in document and "error" in document

    async def pay_out(self, payment: dict[str, Any]) -> list[Heard]:
        """The player confirms (`debit`), the merchant approves, Trustly pays."""
        heard = [await self._notify(payment, "debit")]
        adapter = self.adapter()
        assert isinstance(adapter, TrustlyAdapter)
        approved = await adapter.approve_payout(await self.record(payment["id"]))
        assert approved.state is PaymentState.PROCESSING
        heard.append(await self._notify(payment, "pending"))
        heard.append(await self._notify(payment, "payoutconfirmation"))

        return heard

    async def _notify(self, payment: dict[str, Any], method: str) -> Heard:
        notification = self.simulator.notification(
            payment["provider_reference"], method
        )
        self._last = notification
        return _trustly(await self.simulator.notify(notification))


class CoinspaidRig(Rig):
    """CoinsPaid: a permanent BTC address paid into; a crypto withdrawal."""

    instance = "coinspaid-main"
    currency = "BTC"
    amount = "0.01"
    payout_amount = "0.005"
    # The player's payment into the address opens a deposit of its own.
    deposit_moves = ("created", "pending", "succeeded")
    payout_moves = ("requested", "processing", "paid")

    def __init__(self) -> None:
        self.processing = Processing(secrets.token_hex(16), secrets.token_hex(32))
        self._last: CoinspaidDelivery | None = None

    @asynccontextmanager
    async def serve(self) -> AsyncIterator[None]:
        """Serve the simulated merchant API."""
        async with serve(self.processing) as url:
            self.url = url
            yield

    def connect(self, gateway: Gateway) -> None:
        """Point the account's callback URL at the gateway's instance."""
        super().connect(gateway)
        self.processing.webhook_url = (
            f"{gateway.url}/providers/{self.instance}/callback"
        )

    def provider(self, gateway_url: str) -> dict[str, Any]:
        """Return a `coinspaid` instance with the account's key pair."""
        return {
            **POLICY,
            "adapter": "coinspaid",
            "api_url": self.url,
            "public_key": self.processing.public_key,
            "secret": self.processing.secret,
        }

    def deposit_fields(self) -> dict[str, Any]:
        """Return a crypto deposit in BTC."""
        return {"method": "crypto", "currency": "BTC", "amount": self.amount}

    def payout_fields(self) -> dict[str, Any]:
        """Return a crypto payout in BTC to the player's address."""
        return {
            "method": "crypto",
            "currency": "BTC",
            "amount": self.payout_amount,
            "kyc": {"crypto_address": BTC_ADDRESS},
        }

    def received_deposit(self, payment: dict[str, Any]) -> bool:
        """Return whether CoinsPaid handed out the address the payment shows."""
        held = self.processing.addresses.get((_player(), "BTC"))
        action = payment["next_action"] or {}
        return held is not None and action.get("value") == held.address

    async def succeed(self, payment: dict[str, Any]) -> tuple[str, list[Heard]]:
        """Play the player paying in: `not_confirmed`, then `confirmed`."""
        return await self._deposit(("not_confirmed", "confirmed"))

    async def repeat(self) -> Heard:
        """Retransmit the last callback byte for byte, headers included."""
        assert self._last is not None
        return _coinspaid(await self.processing.retransmit(self._last))

    async def succeed_out_of_order(
        self, payment: dict[str, Any]
    ) -> tuple[str, list[Heard]]:
        """Send `confirmed` first and `not_confirmed` after it."""
        return await self._deposit(("confirmed", "not_confirmed"))

    async def forge(self, payment: dict[str, Any]) -> Heard:
        """Send a `confirmed` deposit signed with a secret that is not the account's."""
        deliveries = await self.processing.deposit(
            _player(), "BTC", self.amount, statuses=("confirmed",), forge="secret"
        )
        return _coinspaid(deliveries[0])

    def refused_in_form(self, heard: Heard) -> bool:
        """CoinsPaid is refused with a non-200 status, so it would retry."""
        return heard.status == 403 and orjson.loads(heard.body) == {
            "error": "invalid_signature"
        }

    async def pay_out(self, payment: dict[str, Any]) -> list[Heard]:
        """Send the withdrawal's `confirmed` callback."""
        deliveries = await self.processing.settle_withdrawal(payment["id"])
        return [_coinspaid(delivery) for delivery in deliveries]

    async def _deposit(self, statuses: tuple[str, ...]) -> tuple[str, list[Heard]]:
        deliveries = await self.processing.deposit(
            _player(), "BTC", self.amount, statuses=statuses
        )
        self._last = deliveries[-1]
        transaction = str(orjson.loads(deliveries[0].body)["id"])
        opened = await self.gateway.payments.store.find_by_provider_reference(
            self.instance, transaction
        )
        assert opened is not None, "the callback opened no deposit"

        return opened.id, [_coinspaid(delivery) for delivery in deliveries]


def _player() -> str:
    return player_ref(OPERATOR, PLAYER)


def _adyen(delivery: AdyenDelivery) -> Heard:
    return Heard(delivery.status, delivery.accepted, delivery.answer)


def _trustly(reply: Reply) -> Heard:
    return Heard(reply.http_status, reply.ok, orjson.dumps(dict(reply.document)))


def _coinspaid(delivery: CoinspaidDelivery) -> Heard:
    return Heard(delivery.status, delivery.accepted, delivery.answer)
