"""Adyen's side of the Checkout and classic Payout APIs, simulated on loopback.

What it answers, as Adyen documents it:
- `POST /v71/sessions`: 201 with `id`, `sessionData`, `expiresAt` and, for
  `mode: hosted`, the hosted page's `url`.
- `POST /v71/payments`: `Authorised` for `paymentMethod.type` `scheme`, a
  `RedirectShopper` with a redirect `action` for any other type, or
  `Refused` with the reason `refuse_next` was given.
- `POST /v71/payments/{pspReference}/refunds|captures|cancels` and
  `POST /v71/cancels`: 201 with `status: received`.
- `POST /pal/servlet/Payout/v68/storeDetailAndSubmitThirdParty`:
  `[payout-submit-received]`; `confirmThirdParty` and `declineThirdParty`
  answer `[payout-confirm-received]` and `[payout-decline-received]` to the
  reviewer's API key only.

Every call needs the right `X-API-Key` (401 otherwise, 403 for the submitter's
key on a review) and the simulator's merchant account. A repeated
`Idempotency-Key` on the same endpoint under the same key gets the first
answer again, byte for byte, without doing anything twice. `fail_next`
answers the next calls with an error status or drops their connection;
unreachable is simulated by not running the simulator at all.

Notifications are built by `item` and the named helpers, signed with the
simulator's HMAC key, and posted by `notifier` (see
`examples.adyen_simulator.notifications`).
"""

from __future__ import annotations

import random
import secrets
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import orjson
from aiohttp import web

from examples.adyen_simulator.notifications import Notifier, notification_item

CHECKOUT = "/v71"
PAYOUT = "/pal/servlet/Payout/v68"
DEFAULT_MERCHANT = "GamegateTestMerchant"

# The refusalReasonCode Adyen documents for each refusalReason.
REFUSAL_CODES: Mapping[str, str] = {
    "Refused": "2",
    "Acquirer Error": "4",
    "Blocked Card": "5",
    "Expired Card": "6",
    "Issuer Unavailable": "9",
    "Not supported": "10",
    "Not enough balance": "12",
    "FRAUD": "20",
    "CVC Declined": "24",
}

Answer = tuple[int, dict[str, Any]]
Handler = Callable[["AdyenSimulator", web.Request, dict[str, Any]], Awaitable[Answer]]
Credential = Literal["api", "review"]


@dataclass(slots=True)
class SimulatedPayment:
    """A deposit or payout as the simulated Adyen keeps it."""

    merchant_reference: str
    amount: dict[str, Any]
    kind: Literal["deposit", "payout"]
    psp_reference: str | None = None
    session_id: str | None = None
    payment_method: str | None = None
    status: str = "open"
    modifications: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Call:
    """One API call the simulator received, faulted or not."""

    path: str
    api_key: str | None
    idempotency_key: str | None
    body: bytes


@dataclass(frozen=True, slots=True)
class Fault:
    """How the next calls misbehave: answer `status`, or drop the connection."""

    kind: Literal["status", "drop"]
    status: int = 500


class AdyenSimulator:
    """The simulated Adyen: its credentials, its payments and its faults.

    pspReferences and session ids come from `random.Random(seed)`, so a run
    is repeatable; that is fine for a simulator and wrong for a real PSP.
    """

    def __init__(
        self,
        api_key: str,
        hmac_key: str,
        *,
        review_api_key: str | None = None,
        merchant_account: str = DEFAULT_MERCHANT,
        seed: int = 0,
    ) -> None:
        self.api_key = api_key
        self.review_api_key = review_api_key
        self.hmac_key = hmac_key
        self.merchant_account = merchant_account
        self.payments: dict[str, SimulatedPayment] = {}
        self.calls: list[Call] = []
        self.received: Counter[str] = Counter()
        self.notifier = Notifier()
        self._random = random.Random(seed)
        self._answers: dict[tuple[str, str, str], tuple[int, bytes]] = {}
        self._faults: list[Fault] = []
        self._standing: Fault | None = None
        self._refusals: list[tuple[str, str]] = []

    def fail_next(
        self, status: int = 500, *, times: int | None = 1, drop: bool = False
    ) -> None:
        """Answer the next `times` calls with `status`, or drop their connection.

        `times=None` keeps failing every call until `clear_faults`.
        """
        fault = Fault("drop") if drop else Fault("status", status)
        if times is None:
            self._standing = fault
        else:
            self._faults.extend([fault] * times)

    def clear_faults(self) -> None:
        """Answer every call as usual from now on."""
        self._faults.clear()
        self._standing = None

    def refuse_next(self, reason: str, code: str | None = None) -> None:
        """Refuse the next payment or payout with a refusal reason and its code."""
        self._refusals.append((reason, code or REFUSAL_CODES.get(reason, "0")))

    def new_psp_reference(self) -> str:
        """Return a fresh 16-character pspReference."""
        alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"

        return "".join(self._random.choice(alphabet) for _ in range(16))

    def payment(self, merchant_reference: str) -> SimulatedPayment:
        """Return the payment the gateway started under `merchant_reference`."""
        return self.payments[merchant_reference]

    def item(
        self,
        merchant_reference: str,
        event_code: str,
        *,
        success: bool = True,
        value: int | None = None,
        reason: str = "",
        additional: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Return a signed notification item about one of the payments.

        An AUTHORISATION or a payout's first event names the payment's own
        pspReference (giving it one if it has none yet, as a paid session
        does); any other event is a modification with a pspReference of its
        own and the payment's as `originalReference`.
        """
        payment = self.payments[merchant_reference]
        if payment.psp_reference is None:
            payment.psp_reference = self.new_psp_reference()
        own_event = event_code == "AUTHORISATION" or payment.kind == "payout"
        amount = dict(payment.amount)
        if value is not None:
            amount["value"] = value

        return notification_item(
            self.hmac_key,
            event_code=event_code,
            psp_reference=(
                payment.psp_reference if own_event else self.new_psp_reference()
            ),
            original_reference=None if own_event else payment.psp_reference,
            merchant_account=self.merchant_account,
            merchant_reference=merchant_reference,
            amount=amount,
            success=success,
            reason=reason,
            additional=additional,
        )

    def authorisation(
        self, merchant_reference: str, *, success: bool = True, reason: str = ""
    ) -> dict[str, Any]:
        """Return the AUTHORISATION item that ends a deposit one way or the other."""
        return self.item(
            merchant_reference, "AUTHORISATION", success=success, reason=reason
        )

    @asynccontextmanager
    async def serve(self, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
        """Serve the simulated APIs over HTTP and yield their base URL."""
        runner = web.AppRunner(create_app(self), shutdown_timeout=5.0)
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port)
            await site.start()
            bound_port = runner.addresses[0][1]
            shown = f"[{host}]" if ":" in host else host
            yield f"http://{shown}:{bound_port}"
        finally:
            self.clear_faults()
            await self.notifier.aclose()
            await runner.cleanup()

    async def answer(
        self, request: web.Request, credential: Credential, handler: Handler
    ) -> web.StreamResponse:
        """Check a call's key, replay its idempotent answer, or handle it once."""
        body = await request.read()
        api_key = request.headers.get("X-API-Key")
        idempotency_key = request.headers.get("Idempotency-Key")
        self.calls.append(Call(request.path, api_key, idempotency_key, body))
        self.received[request.path] += 1
        fault = self._faults.pop(0) if self._faults else self._standing
        if fault is not None:
            if fault.kind == "drop" and request.transport is not None:
                request.transport.abort()
            return _json(fault.status, _error(fault.status, "000", "Internal error"))

        refused = self._check_key(api_key, credential)
        if refused is not None:
            return _json(*refused)
        stored = (api_key or "", request.path, idempotency_key or "")
        if idempotency_key and stored in self._answers:
            status, replay = self._answers[stored]
            return web.Response(
                status=status, body=replay, content_type="application/json"
            )

        status, document = await self._handle(request, body, handler)
        encoded = orjson.dumps(document)
        if idempotency_key and status < 500:
            self._answers[stored] = (status, encoded)

        return web.Response(
            status=status, body=encoded, content_type="application/json"
        )

    def take_refusal(self) -> tuple[str, str] | None:
        """Return the refusal queued by `refuse_next`, if any, and forget it."""
        return self._refusals.pop(0) if self._refusals else None

    def new_session_id(self) -> str:
        """Return a fresh checkout session id."""
        return f"CS{self._random.getrandbits(64):016X}"

    def _check_key(self, api_key: str | None, credential: Credential) -> Answer | None:
        wanted = self.api_key if credential == "api" else self.review_api_key
        if wanted is not None and api_key == wanted:
            return None
        if credential == "review" and api_key == self.api_key:
            return 403, _error(403, "010", "Not allowed", "security")

        return 401, _error(
            401, "000", "HTTP Status Response - Unauthorized", "security"
        )

    async def _handle(
        self, request: web.Request, body: bytes, handler: Handler
    ) -> Answer:
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            return 400, _error(400, "702", "Unexpected input", "validation")
        if not isinstance(document, dict):
            return 400, _error(400, "702", "Unexpected input", "validation")
        if document.get("merchantAccount") != self.merchant_account:
            return 403, _error(403, "901", "Invalid Merchant Account", "security")

        return await handler(self, request, document)


def run_simulator(
    api_key: str,
    hmac_key: str,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    review_api_key: str | None = None,
    merchant_account: str = DEFAULT_MERCHANT,
    seed: int = 0,
) -> AbstractAsyncContextManager[str]:
    """Start a fresh simulated Adyen on `host:port` (0 picks a port); yield its URL.

    Use as `async with run_simulator(key, hmac_key) as base_url:`; configure
    the adapter with `checkout_url=base_url` and
    `payout_url=base_url + "/pal/servlet"`. To send notifications or look at
    the payments, build an `AdyenSimulator` and use `async with sim.serve()`.
    """
    simulator = AdyenSimulator(
        api_key,
        hmac_key,
        review_api_key=review_api_key,
        merchant_account=merchant_account,
        seed=seed,
    )

    return simulator.serve(host, port)


SIMULATOR = web.AppKey("adyen_simulator", AdyenSimulator)


def create_app(simulator: AdyenSimulator) -> web.Application:
    """Build the aiohttp application that answers the simulated APIs."""
    app = web.Application()
    app[SIMULATOR] = simulator
    routes: list[tuple[str, Credential, Handler]] = [
        (f"{CHECKOUT}/sessions", "api", _sessions),
        (f"{CHECKOUT}/payments", "api", _payments),
        (f"{CHECKOUT}/payments/{{psp}}/{{modification}}", "api", _modification),
        (f"{CHECKOUT}/cancels", "api", _cancel_by_reference),
        (f"{PAYOUT}/storeDetailAndSubmitThirdParty", "api", _submit_payout),
        (f"{PAYOUT}/confirmThirdParty", "review", _review_payout),
        (f"{PAYOUT}/declineThirdParty", "review", _review_payout),
    ]
    for path, credential, handler in routes:
        app.router.add_post(path, _route(credential, handler))
    app.router.add_get("/checkout/{session}", _page)
    app.router.add_get("/redirect/{psp}", _page)

    return app


def _route(
    credential: Credential, handler: Handler
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def route(request: web.Request) -> web.StreamResponse:
        return await request.app[SIMULATOR].answer(request, credential, handler)

    return route


async def _sessions(
    sim: AdyenSimulator, request: web.Request, document: dict[str, Any]
) -> Answer:
    missing = _missing(document, "amount", "reference", "returnUrl")
    if missing:
        return missing
    session_id = sim.new_session_id()
    sim.payments[document["reference"]] = SimulatedPayment(
        document["reference"], document["amount"], "deposit", session_id=session_id
    )
    mode = document.get("mode", "embedded")
    answer = {
        "amount": document["amount"],
        "expiresAt": (datetime.now(UTC) + timedelta(hours=1)).isoformat(
            timespec="seconds"
        ),
        "id": session_id,
        "merchantAccount": sim.merchant_account,
        "mode": mode,
        "reference": document["reference"],
        "returnUrl": document["returnUrl"],
        "sessionData": secrets.token_urlsafe(48),
    }
    if mode == "hosted":
        answer["url"] = f"{_base(request)}/checkout/{session_id}"

    return 201, answer


async def _payments(
    sim: AdyenSimulator, request: web.Request, document: dict[str, Any]
) -> Answer:
    missing = _missing(document, "amount", "reference", "returnUrl", "paymentMethod")
    if missing:
        return missing
    method = str(document["paymentMethod"].get("type") or "")
    payment = SimulatedPayment(
        document["reference"], document["amount"], "deposit", payment_method=method
    )
    payment.psp_reference = sim.new_psp_reference()
    sim.payments[payment.merchant_reference] = payment

    refusal = sim.take_refusal()
    if refusal is not None:
        payment.status = "refused"
        reason, code = refusal
        return 200, {
            "pspReference": payment.psp_reference,
            "resultCode": "Refused",
            "refusalReason": reason,
            "refusalReasonCode": code,
            "merchantReference": payment.merchant_reference,
        }
    if method == "scheme":
        payment.status = "authorised"
        return 200, {
            "pspReference": payment.psp_reference,
            "resultCode": "Authorised",
            "amount": payment.amount,
            "merchantReference": payment.merchant_reference,
        }

    payment.status = "redirect"
    action = {
        "paymentMethodType": method,
        "url": f"{_base(request)}/redirect/{payment.psp_reference}",
        "method": "GET",
        "type": "redirect",
    }

    return 200, {"resultCode": "RedirectShopper", "action": action}


async def _modification(
    sim: AdyenSimulator, request: web.Request, document: dict[str, Any]
) -> Answer:
    psp, modification = request.match_info["psp"], request.match_info["modification"]
    payment = next((p for p in sim.payments.values() if p.psp_reference == psp), None)
    if modification not in ("refunds", "captures", "cancels"):
        raise web.HTTPNotFound()
    if payment is None:
        return 422, _error(422, "167", "Original pspReference required", "validation")

    return 201, _received(sim, payment, modification, document)


async def _cancel_by_reference(
    sim: AdyenSimulator, request: web.Request, document: dict[str, Any]
) -> Answer:
    payment = sim.payments.get(str(document.get("paymentReference")))
    if payment is None:
        return 422, _error(422, "167", "Original reference unknown", "validation")

    return 201, _received(sim, payment, "cancels", document)


async def _submit_payout(
    sim: AdyenSimulator, request: web.Request, document: dict[str, Any]
) -> Answer:
    missing = _missing(
        document,
        "amount",
        "reference",
        "shopperEmail",
        "shopperReference",
        "recurring",
        "dateOfBirth",
        "nationality",
        "entityType",
    )
    if missing:
        return missing
    payment = SimulatedPayment(document["reference"], document["amount"], "payout")
    payment.psp_reference = sim.new_psp_reference()
    sim.payments[payment.merchant_reference] = payment

    refusal = sim.take_refusal()
    if refusal is not None:
        payment.status = "refused"
        return 200, {
            "pspReference": payment.psp_reference,
            "resultCode": "Refused",
            "refusalReason": refusal[0],
        }
    payment.status = "submitted"

    return 200, {
        "pspReference": payment.psp_reference,
        "resultCode": "[payout-submit-received]",
    }


async def _review_payout(
    sim: AdyenSimulator, request: web.Request, document: dict[str, Any]
) -> Answer:
    original = document.get("originalReference")
    payment = next(
        (p for p in sim.payments.values() if p.psp_reference == original), None
    )
    if payment is None or payment.kind != "payout":
        return 422, _error(422, "167", "Original pspReference required", "validation")
    confirm = request.path.endswith("confirmThirdParty")
    payment.status = "confirmed" if confirm else "declined"
    word = "confirm" if confirm else "decline"

    return 200, {
        "pspReference": sim.new_psp_reference(),
        "response": f"[payout-{word}-received]",
    }


async def _page(request: web.Request) -> web.Response:
    return web.Response(
        text="<!doctype html><title>Adyen (simulated)</title><p>Pay here.</p>",
        content_type="text/html",
    )


def _received(
    sim: AdyenSimulator,
    payment: SimulatedPayment,
    modification: str,
    document: Mapping[str, Any],
) -> dict[str, Any]:
    answer = {
        "merchantAccount": sim.merchant_account,
        "paymentPspReference": payment.psp_reference,
        "pspReference": sim.new_psp_reference(),
        "reference": document.get("reference"),
        "status": "received",
    }
    if "amount" in document:
        answer["amount"] = document["amount"]
    payment.modifications.append({"type": modification, **answer})

    return answer


def _missing(document: Mapping[str, Any], *fields: str) -> Answer | None:
    for name in fields:
        if document.get(name) in (None, ""):
            return 422, _error(422, "100", f"Required field '{name}' is not provided.")
    amount = document.get("amount")
    if "amount" in fields and (
        not isinstance(amount, dict) or type(amount.get("value")) is not int
    ):
        return 422, _error(422, "137", "Invalid amount specified")

    return None


def _error(
    status: int, code: str, message: str, kind: str = "validation"
) -> dict[str, Any]:
    return {"status": status, "errorCode": code, "message": message, "errorType": kind}


def _json(status: int, document: Mapping[str, Any]) -> web.Response:
    return web.Response(
        status=status, body=orjson.dumps(document), content_type="application/json"
    )


def _base(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"
