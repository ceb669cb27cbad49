"""The payment flows: create, refund, refresh, and the providers' webhooks.

A new payment is claimed under the casino's idempotency key before anything
is sent, so two requests with one key make one payment. With the built-in
wallet a payout's reserve is then taken; routing names the candidates and
each is recorded on the payment before it is asked, so a call whose outcome
is unknown leaves the payment in its initial state with the provider that
may hold it, to be resolved by its webhook or a status query, and never
tried elsewhere. Only a failure that is safe to retry moves on to the next
candidate (`routing.fallback_decision`).

A webhook is verified and read by the instance's adapter over the raw body
first; a refusal writes nothing. Each event is then applied through the
store, which deduplicates it and moves the state forward only, and the
provider is answered in its own form.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import structlog

from contracts.adapter import Callback, CallbackAnswer
from contracts.errors import GamegateError, ProviderError
from contracts.money import CurrencyTable, Money
from contracts.payments import (
    PaymentAdapter,
    PaymentEvent,
    PaymentKind,
    PaymentMethod,
    PaymentOperation,
    PaymentRequest,
    PaymentResult,
    PaymentState,
)
from gateway import clock
from gateway.ledger import player_ref, split_player_ref
from gateway.payments.funds import REFUSED, Funds
from gateway.payments.outbox import Notifier
from gateway.payments.routing import PaymentQuery, fallback_decision, route
from gateway.payments.store import (
    RESERVE,
    Applied,
    Change,
    Movement,
    NewPayment,
    Outcome,
    Payment,
    PaymentStore,
)
from gateway.reload import Runtime, Snapshot
from gateway.resilience import CallFailed, Provider

log = structlog.get_logger(__name__)

_CREATE = {
    PaymentKind.DEPOSIT: PaymentOperation.CREATE_DEPOSIT,
    PaymentKind.PAYOUT: PaymentOperation.CREATE_PAYOUT,
}


class PaymentApiError(Exception):
    """An operator payment request refused with an HTTP status and a stable code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Answer:
    """An operator API answer: its HTTP status, document and extra headers."""

    status: int
    document: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class Payments:
    """Every payment flow, over the runtime's current snapshot and database.

    With the casino's own wallet (`wallet.mode: operator`) no money moves
    here: the casino learns each state change from its notification and
    moves the money in its own wallet.
    """

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.notifier = Notifier(
            runtime.db, lambda: runtime.config.payments, before=self.sweep
        )
        self.store = PaymentStore(
            runtime.db,
            builtin=runtime.remote_wallet is None,
            currencies=lambda: runtime.currencies,
            on_enqueued=self.notifier.wake,
        )
        self.funds = (
            Funds(runtime.db, runtime.ledger, self.store)
            if self.store.builtin
            else None
        )

    async def start(self) -> None:
        """Start delivering notifications and sweeping movements in the background."""
        await self.notifier.start()

    async def stop(self) -> None:
        """Stop the background delivery; what is undelivered stays in the outbox."""
        await self.notifier.stop()

    async def create(self, new: NewPayment) -> Answer:
        """Start a deposit or payout once per idempotency key; see the module doc."""
        existing = await self.store.find_by_key(new.operator, new.idempotency_key)
        if existing is not None:
            return await self._replay(existing, new)

        snapshot = self.runtime.snapshot
        candidates, rule = self._candidates(snapshot, new)
        payment, fresh = await self.store.claim(new)
        if not fresh:
            return await self._replay(payment, new)
        log.info(
            "payment.created",
            payment_id=payment.id,
            kind=payment.kind.value,
            rule=rule,
            candidates=list(candidates),
        )

        return await self._start(snapshot, payment, candidates, rule)

    async def _replay(self, payment: Payment, new: NewPayment) -> Answer:
        if payment.fingerprint != new.fingerprint:
            raise PaymentApiError(
                409,
                "idempotency_mismatch",
                "this idempotency key was used with another request",
            )
        if payment.provider is None and payment.failure_code is None:
            # The process that claimed the key stopped before any provider
            # was asked; the casino's retry finishes the job.
            snapshot = self.runtime.snapshot
            candidates, rule = self._candidates(snapshot, new)
            return await self._start(snapshot, payment, candidates, rule)
        if payment.provider is None and payment.failure_code is not None:
            raise PaymentApiError(
                409, payment.failure_code, payment.failure_message or ""
            )

        return await self._answer(payment, 200, replay=True)

    def _candidates(
        self, snapshot: Snapshot, new: NewPayment
    ) -> tuple[tuple[str, ...], str | None]:
        query = PaymentQuery(
            kind=new.kind,
            operator=new.operator,
            player=new.player,
            amount=new.amount,
            method=new.method,
            country=new.country,
        )
        choice = route(snapshot.config.payments, snapshot.currencies, query)
        usable, skipped = [], []
        for instance in choice.candidates:
            why = _unsuitable(snapshot, instance, new)
            if why is None:
                usable.append(instance)
            else:
                skipped.append(why)
        if not usable:
            detail = "; ".join(skipped) or "no rule of payments.routes matches"
            raise PaymentApiError(422, "no_route", f"no provider takes it: {detail}")

        return tuple(usable), choice.rule

    async def _start(
        self,
        snapshot: Snapshot,
        payment: Payment,
        candidates: Sequence[str],
        rule: str | None,
    ) -> Answer:
        if payment.kind is PaymentKind.PAYOUT and self.funds is not None:
            payment = await self._settle(payment)
            if payment.failure_code is not None:
                raise PaymentApiError(
                    409, payment.failure_code, payment.failure_message or ""
                )

        previous: str | None = None
        reason = f"routed by rule {rule}"
        for index, instance in enumerate(candidates):
            note = f"{reason}: asking {instance}"
            if not await self.store.take_provider(payment.id, instance, previous, note):
                # Another request with the same key is asking a provider.
                return await self._answer(await self._reload(payment), 202)
            previous = instance
            provider = snapshot.providers[instance]
            try:
                result = await self._create_at(provider, payment)
            except CallFailed as failed:
                decision = fallback_decision(failed)
                message = failed.error.message
                log.warning(
                    "payment.provider_failed",
                    payment_id=payment.id,
                    provider=instance,
                    decision=decision,
                    reason=message,
                )
                if decision == "unknown":
                    await self.store.note(
                        payment.id,
                        "provider",
                        f"outcome unknown at {instance} ({message}); waiting for"
                        " its webhook or a status query",
                    )
                    return await self._answer(await self._reload(payment), 202)
                last = index == len(candidates) - 1
                if decision == "declined" or last:
                    code = "declined" if decision == "declined" else "unavailable"
                    return await self._fail(payment, code, f"{instance}: {message}")
                self.runtime.metrics.count_fallback(instance, "payment")
                reason = f"{instance} failed safely ({message})"
                continue

            applied = await self._apply(payment, _answer_change(result))
            return await self._answer(applied.payment, 201)

        raise AssertionError("no candidates")  # _candidates returns at least one

    async def _create_at(self, provider: Provider, payment: Payment) -> PaymentResult:
        adapter: PaymentAdapter = provider.adapter
        request = _payment_request(payment, provider.name)
        if payment.kind is PaymentKind.DEPOSIT:
            call = partial(adapter.create_deposit, request)
        else:
            call = partial(adapter.create_payout, request)
        result: PaymentResult = await provider.call(
            _CREATE[payment.kind].value, call, safe=False
        )

        return result

    async def _fail(self, payment: Payment, code: str, message: str) -> Answer:
        change = Change(
            target=PaymentState.FAILED,
            source="gateway",
            reason=message,
            failure=(code, message),
        )
        applied = await self._apply(payment, change)

        return await self._answer(applied.payment, 201)

    async def refund(self, operator: str, payment_id: str) -> Answer:
        """Ask the deposit's provider to refund it in full, once."""
        payment = await self._own(operator, payment_id)
        if payment.kind is not PaymentKind.DEPOSIT:
            raise PaymentApiError(409, "not_refundable", "only deposits are refunded")
        if payment.state in (PaymentState.REFUNDED, PaymentState.REVERSED):
            return await self._answer(payment, 200)
        if payment.state is not PaymentState.SUCCEEDED:
            raise PaymentApiError(
                409, "not_refundable", f"the deposit is {payment.state.value}"
            )
        provider = self.runtime.snapshot.providers.get(payment.provider or "")
        adapter = provider.adapter if provider is not None else None
        if provider is None or not isinstance(adapter, PaymentAdapter):
            raise PaymentApiError(
                409, "not_refundable", "its provider is no longer configured"
            )
        if PaymentOperation.REFUND not in adapter.capabilities.operations:
            raise PaymentApiError(409, "not_refundable", "its provider cannot refund")
        if not await self.store.set_refund_requested(payment.id, True):
            return await self._answer(payment, 202)

        try:
            result: PaymentResult = await provider.call(
                "refund",
                partial(adapter.refund, payment.record(), payment.settled),
                safe=False,
            )
        except CallFailed as failed:
            return await self._refund_failed(payment, failed)
        applied = await self._apply(
            payment, _answer_change(result, "refund accepted by the provider")
        )
        moved = applied.outcome is Outcome.MOVED

        return await self._answer(applied.payment, 200 if moved else 202)

    async def _refund_failed(self, payment: Payment, failed: CallFailed) -> Answer:
        message = failed.error.message
        if fallback_decision(failed) == "unknown":
            await self.store.note(
                payment.id, "provider", f"refund outcome unknown ({message})"
            )
            return await self._answer(await self._reload(payment), 202)
        await self.store.set_refund_requested(payment.id, False)
        await self.store.note(payment.id, "provider", f"refund refused ({message})")

        raise PaymentApiError(502, "provider_error", message)

    async def get(self, operator: str, payment_id: str, refresh: bool) -> Answer:
        """Return a payment; `refresh` first asks its provider for its state."""
        payment = await self._own(operator, payment_id)
        if refresh and payment.provider is not None and not payment.final:
            payment = await self._refresh(payment)

        return await self._answer(payment, 200)

    async def _refresh(self, payment: Payment) -> Payment:
        provider = self.runtime.snapshot.providers.get(payment.provider or "")
        adapter = provider.adapter if provider is not None else None
        if provider is None or not isinstance(adapter, PaymentAdapter):
            return payment
        try:
            result: PaymentResult = await provider.call(
                "status", partial(adapter.status, payment.record()), safe=True
            )
        except CallFailed as failed:
            log.info(
                "payment.status_failed",
                payment_id=payment.id,
                provider=provider.name,
                reason=failed.error.message,
            )
            return payment
        change = _answer_change(result, "status query", source="status")

        return (await self._apply(payment, change)).payment

    async def webhook(
        self, instance: str, adapter: PaymentAdapter, callback: Callback
    ) -> CallbackAnswer:
        """Verify, deduplicate and apply a provider's webhook; answer it its way."""
        try:
            events = adapter.parse_webhook(callback)
        except GamegateError as error:
            log.info("payment.webhook.refused", provider=instance, reason=error.code)
            return adapter.render_webhook_error(callback, error)

        try:
            for event in events:
                payment = await self._payment_of(instance, adapter, event)
                if payment is None:
                    log.warning(
                        "payment.webhook.unknown_payment",
                        provider=instance,
                        event_id=event.event_id,
                    )
                    unknown = ProviderError("unknown payment", retryable=True)
                    return adapter.render_webhook_error(callback, unknown)
                await self._apply(payment, _event_change(instance, event))
        except Exception:
            log.exception("payment.webhook.failed", provider=instance)
            failure = ProviderError("internal error", retryable=True)
            return adapter.render_webhook_error(callback, failure)

        return adapter.acknowledge(callback, events)

    async def _payment_of(
        self, instance: str, adapter: PaymentAdapter, event: PaymentEvent
    ) -> Payment | None:
        if event.payment_id:
            payment = await self.store.get(event.payment_id)
            if payment is not None:
                return payment
        if not event.provider_reference:
            return None
        payment = await self.store.find_by_provider_reference(
            instance, event.provider_reference
        )
        if payment is None and event.payment_id is None and event.player:
            return await self._open_unsolicited(instance, adapter, event)

        return payment

    async def _open_unsolicited(
        self, instance: str, adapter: PaymentAdapter, event: PaymentEvent
    ) -> Payment | None:
        # A deposit the player sent unasked (to a permanent crypto address)
        # becomes a payment of its own, keyed by the provider's reference.
        assert event.provider_reference is not None and event.player is not None
        ref = split_player_ref(event.player)
        operators = {operator.name for operator in self.runtime.config.operators}
        if ref is None or ref[0] not in operators or event.amount is None:
            return None
        methods = adapter.capabilities.methods
        method = (
            PaymentMethod.CRYPTO
            if PaymentMethod.CRYPTO in methods
            else min(methods, key=str)
        )
        amount = self.runtime.currencies.format(event.amount)
        new = NewPayment(
            kind=PaymentKind.DEPOSIT,
            operator=ref[0],
            player=ref[1],
            amount=event.amount,
            method=method,
            country=None,
            reference=event.provider_reference,
            idempotency_key=f"provider:{instance}:{event.provider_reference}",
            request={
                "reference": event.provider_reference,
                "player": ref[1],
                "amount": amount,
                "currency": event.amount.currency,
                "method": method.value,
                "opened_by": instance,
            },
        )
        payment, _ = await self.store.claim(new)
        if payment.provider is None:
            await self.store.take_provider(
                payment.id, instance, None, f"opened by an event of {instance}"
            )
        log.info("payment.opened_by_provider", payment_id=payment.id, provider=instance)

        return await self._reload(payment)

    async def sweep(self) -> None:
        """Apply movements left pending (a crash, a failed database call)."""
        if self.funds is None:
            return
        by_payment: dict[str, list[Movement]] = defaultdict(list)
        for movement in await self.store.movements(pending=True):
            by_payment[movement.payment_id].append(movement)
        for payment_id in by_payment:
            payment = await self.store.get(payment_id)
            if payment is not None:
                await self._settle(payment)

    async def _apply(self, payment: Payment, change: Change) -> Applied:
        applied = await self.store.apply(payment.id, change)
        log.info(
            "payment.event.applied",
            payment_id=payment.id,
            outcome=applied.outcome.value,
            state=applied.payment.state.value,
            target=change.target.value,
            source=change.source,
        )
        if self.funds is not None:
            settled = await self._settle(applied.payment)
            return Applied(applied.outcome, settled, applied.movement)

        return applied

    async def _settle(self, payment: Payment) -> Payment:
        # A duplicate event still settles: the first delivery may have moved
        # the state and stopped before the money moved.
        assert self.funds is not None  # only with the built-in wallet
        for movement in await self.funds.settle(payment):
            if movement.effect == RESERVE and movement.state == REFUSED:
                status = movement.status or "refused"
                change = Change(
                    target=PaymentState.FAILED,
                    source="gateway",
                    reason=f"the reserve was refused: {status}",
                    failure=(status, f"the payout cannot be reserved: {status}"),
                )
                await self.store.apply(payment.id, change)

        return await self._reload(payment)

    async def _own(self, operator: str, payment_id: str) -> Payment:
        payment = await self.store.get(payment_id)
        if payment is None or payment.operator != operator:
            raise PaymentApiError(404, "unknown_payment", "no such payment")
        return payment

    async def _reload(self, payment: Payment) -> Payment:
        again = await self.store.get(payment.id)
        assert again is not None  # payments are never deleted
        return again

    async def document(self, payment: Payment) -> dict[str, Any]:
        """Return a payment as the operator API shows it, history included."""
        currencies = self.runtime.currencies
        history = await self.store.history(payment.id)
        movements = await self.store.movements(payment.id) if self.funds else []
        action = payment.next_action if not payment.final else None

        return {
            "id": payment.id,
            "kind": payment.kind.value,
            "state": payment.state.value,
            "final": payment.final,
            "reference": payment.reference,
            "player": payment.player,
            "amount": currencies.format(payment.amount),
            "settled_amount": _format(currencies, payment.settled_amount, payment),
            "currency": payment.amount.currency,
            "method": payment.method.value,
            "country": payment.country,
            "provider": payment.provider,
            "provider_reference": payment.provider_reference,
            "next_action": None
            if action is None
            else {
                "kind": action.kind,
                "value": action.value,
                "details": dict(action.details),
            },
            "failure": None
            if payment.failure_code is None
            else {"code": payment.failure_code, "message": payment.failure_message},
            "wallet": "builtin" if self.funds else "operator",
            "funds": [_movement_document(currencies, payment, m) for m in movements],
            "flags": sorted({"shortfall" for m in movements if m.shortfall}),
            "history": [
                {
                    "sequence": entry.sequence,
                    "from": entry.from_state,
                    "to": entry.to_state,
                    "outcome": entry.outcome,
                    "source": entry.source,
                    "event_id": entry.event_id,
                    "reason": entry.reason,
                    "at": entry.at,
                }
                for entry in history
            ],
            "created_at": clock.to_text(payment.created_at),
            "updated_at": clock.to_text(payment.updated_at),
        }

    async def _answer(
        self, payment: Payment, status: int, replay: bool = False
    ) -> Answer:
        headers = {"Idempotent-Replayed": "true"} if replay else {}
        return Answer(status, await self.document(payment), headers)


def _unsuitable(snapshot: Snapshot, instance: str, new: NewPayment) -> str | None:
    provider = snapshot.providers.get(instance)
    adapter = provider.adapter if provider is not None else None
    if not isinstance(adapter, PaymentAdapter):
        return f"{instance} is not a payment provider"
    capabilities = adapter.capabilities
    if _CREATE[new.kind] not in capabilities.operations:
        return f"{instance} does not take {new.kind.value}s"
    if new.method not in capabilities.methods:
        return f"{instance} does not take {new.method.value}"
    currencies = capabilities.currencies
    if currencies is not None and new.amount.currency not in currencies:
        return f"{instance} does not take {new.amount.currency}"

    return None


def _payment_request(payment: Payment, instance: str) -> PaymentRequest:
    request = payment.request
    return PaymentRequest(
        payment_id=payment.id,
        kind=payment.kind,
        reference=payment.reference,
        idempotency_key=f"{payment.id}:{instance}",
        player=player_ref(payment.operator, payment.player),
        amount=payment.amount,
        method=payment.method,
        country=payment.country,
        locale=request.get("locale"),
        ip=request.get("ip"),
        return_url=request.get("return_url"),
        cancel_url=request.get("cancel_url"),
        kyc=dict(request.get("kyc") or {}),
    )


def _answer_change(
    result: PaymentResult, reason: str = "", source: str = "provider"
) -> Change:
    return Change(
        target=result.state,
        source=source,
        reason=result.message or reason,
        provider_reference=result.provider_reference,
        next_action=result.action,
    )


def _event_change(instance: str, event: PaymentEvent) -> Change:
    return Change(
        target=event.state,
        source="webhook",
        instance=instance,
        event_id=event.event_id,
        reason=event.reason,
        amount=event.amount,
        provider_reference=event.provider_reference,
    )


def _movement_document(
    currencies: CurrencyTable, payment: Payment, movement: Movement
) -> dict[str, Any]:
    currency = payment.amount.currency
    return {
        "effect": movement.effect,
        "state": movement.state,
        "amount": currencies.format(Money(movement.wanted, currency)),
        "taken": currencies.format(Money(movement.taken, currency))
        if movement.state != "pending"
        else None,
        "shortfall": currencies.format(Money(movement.shortfall, currency)),
        "status": movement.status,
    }


def _format(
    currencies: CurrencyTable, minor: int | None, payment: Payment
) -> str | None:
    if minor is None:
        return None
    return currencies.format(Money(minor, payment.amount.currency))
