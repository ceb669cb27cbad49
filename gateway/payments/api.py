"""The payments' HTTP side: the operator API and the providers' webhook intake.

Operator API (operator API keys, as for launches; errors are
`{"error": {"code", "message"}}` with stable codes):

- `POST /v1/payments/deposits`, `POST /v1/payments/payouts`: start one,
  idempotent by the casino's key (`Idempotency-Key` header, or the
  `idempotency_key` field, or else the `reference`). 201 with the payment,
  202 when the provider's answer is not known yet, 200 with
  `Idempotent-Replayed: true` for the same key and body again, 409
  `idempotency_mismatch` for the same key with another body.
- `POST /v1/payments/{id}/refund`: refund a succeeded deposit in full.
- `GET /v1/payments/{id}`: state, history, next action and funds;
  `?refresh=true` first asks the provider for the state.

Provider webhooks arrive under `/providers/{instance}/{path}` like game
callbacks; `gateway.app` hands those of payment instances to
`payment_webhook`.
"""

from __future__ import annotations

import hmac
from typing import Annotated

import orjson
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from contracts.adapter import Callback, CallbackAnswer
from contracts.errors import BadRequest, BodyTooLarge
from contracts.payments import PaymentAdapter, PaymentKind, PaymentMethod
from gateway.config import Config
from gateway.payments.service import Answer, PaymentApiError, Payments
from gateway.payments.store import NewPayment
from gateway.reload import RUNTIME

PAYMENTS = web.AppKey("payments", Payments)

PlayerId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,64}$")]
Key = Annotated[str, StringConstraints(min_length=1, max_length=128)]
Short = Annotated[str, StringConstraints(max_length=64)]
Url = Annotated[str, StringConstraints(max_length=2048)]


class PaymentBody(BaseModel):
    """The body of a new deposit or payout; unknown keys are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reference: Key
    idempotency_key: Key | None = None
    player: PlayerId
    amount: Annotated[str, StringConstraints(max_length=40)]
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9]{1,9}$")]
    method: PaymentMethod
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] | None = None
    locale: Annotated[str, StringConstraints(max_length=16)] | None = None
    ip: Short | None = None
    return_url: Url | None = None
    cancel_url: Url | None = None
    kyc: dict[Short, Annotated[str, StringConstraints(max_length=512)]] = Field(
        default_factory=dict, max_length=32
    )


def add_payment_routes(app: web.Application) -> None:
    """Mount the payment routes and run the outbox with the application.

    Call it after the application's own start-up and clean-up are added:
    the outbox starts once the database is open and stops before it closes.
    """
    app[PAYMENTS] = Payments(app[RUNTIME])
    app.router.add_post("/v1/payments/deposits", create_deposit)
    app.router.add_post("/v1/payments/payouts", create_payout)
    app.router.add_post("/v1/payments/{payment_id}/refund", refund)
    app.router.add_get("/v1/payments/{payment_id}", get_payment)
    app.on_startup.append(_start)
    app.on_cleanup.insert(0, _stop)


async def _start(app: web.Application) -> None:
    await app[PAYMENTS].start()


async def _stop(app: web.Application) -> None:
    await app[PAYMENTS].stop()


async def create_deposit(request: web.Request) -> web.Response:
    """Start a deposit through the provider routing picks."""
    return await _create(request, PaymentKind.DEPOSIT)


async def create_payout(request: web.Request) -> web.Response:
    """Start a payout; with the built-in wallet its amount is reserved first."""
    return await _create(request, PaymentKind.PAYOUT)


async def _create(request: web.Request, kind: PaymentKind) -> web.Response:
    payments = request.app[PAYMENTS]
    snapshot = payments.runtime.snapshot
    try:
        operator = _operator(request, snapshot.config)
        body = await _parse(request)
        key = _idempotency_key(request, body)
        if not snapshot.currencies.knows(body.currency):
            raise PaymentApiError(
                400, "unknown_currency", f"unknown currency {body.currency!r}"
            )
        try:
            amount = snapshot.currencies.parse(body.amount, body.currency)
        except BadRequest as error:
            places = snapshot.currencies.exponent(body.currency)
            detail = f"amount: {error.message} ({body.currency} has {places} decimals)"
            raise PaymentApiError(400, error.code, detail) from None
        if amount.minor == 0:
            raise PaymentApiError(400, "bad_amount", "amount: must be more than zero")
        new = NewPayment(
            kind=kind,
            operator=operator,
            player=body.player,
            amount=amount,
            method=body.method,
            country=body.country,
            reference=body.reference,
            idempotency_key=key,
            request=body.model_dump(mode="json", exclude={"idempotency_key"}),
        )
        answer = await payments.create(new)
    except PaymentApiError as error:
        return _error(error)

    return _answer(answer)


async def refund(request: web.Request) -> web.Response:
    """Refund a succeeded deposit in full through its own provider."""
    payments = request.app[PAYMENTS]
    try:
        operator = _operator(request, payments.runtime.config)
        answer = await payments.refund(operator, request.match_info["payment_id"])
    except PaymentApiError as error:
        return _error(error)

    return _answer(answer)


async def get_payment(request: web.Request) -> web.Response:
    """Return one of the operator's payments with its history."""
    payments = request.app[PAYMENTS]
    refresh = request.query.get("refresh", "").lower() in ("1", "true", "yes")
    try:
        operator = _operator(request, payments.runtime.config)
        answer = await payments.get(operator, request.match_info["payment_id"], refresh)
    except PaymentApiError as error:
        return _error(error)

    return _answer(answer)


async def payment_webhook(
    request: web.Request, instance: str, adapter: PaymentAdapter
) -> web.Response:
    """Take one provider webhook: raw body to the adapter, events to the store."""
    callback = Callback(
        path=request.match_info["path"],
        method=request.method,
        headers=request.headers,
        query=request.query,
        body=b"",
        remote=request.remote,
    )
    if callback.path not in adapter.webhook_paths:
        missing = BadRequest(f"no webhook {callback.path[:64]!r} in this protocol")
        return _callback_answer(adapter.render_webhook_error(callback, missing))
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        large = BodyTooLarge("body larger than the configured limit")
        return _callback_answer(adapter.render_webhook_error(callback, large))

    callback = Callback(
        path=callback.path,
        method=callback.method,
        headers=callback.headers,
        query=callback.query,
        body=body,
        remote=callback.remote,
    )
    answer = await request.app[PAYMENTS].webhook(instance, adapter, callback)

    return _callback_answer(answer)


def _operator(request: web.Request, config: Config) -> str:
    header = request.headers.get("Authorization", "")
    key = header.removeprefix("Bearer ").strip() or request.headers.get("X-Api-Key", "")
    for operator in config.operators:
        for candidate in operator.api_keys:
            if hmac.compare_digest(candidate.get_secret_value().encode(), key.encode()):
                return operator.name

    raise PaymentApiError(401, "unauthorized", "missing or unknown API key")


async def _parse(request: web.Request) -> PaymentBody:
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        too_large = "body larger than allowed"
        raise PaymentApiError(413, "body_too_large", too_large) from None
    try:
        return PaymentBody.model_validate_json(raw)
    except ValidationError as error:
        problem = error.errors()[0]
        where = ".".join(str(part) for part in problem["loc"]) or "body"
        message = f"{where}: {problem['msg']}"
        raise PaymentApiError(400, "bad_request", message) from None


def _idempotency_key(request: web.Request, body: PaymentBody) -> str:
    header = request.headers.get("Idempotency-Key")
    if header is not None and not 0 < len(header) <= 128:
        raise PaymentApiError(400, "bad_request", "Idempotency-Key: 1 to 128 chars")
    if header and body.idempotency_key and header != body.idempotency_key:
        raise PaymentApiError(
            400, "bad_request", "Idempotency-Key and idempotency_key differ"
        )

    return header or body.idempotency_key or body.reference


def _answer(answer: Answer) -> web.Response:
    return web.Response(
        status=answer.status,
        body=orjson.dumps(answer.document),
        content_type="application/json",
        headers=answer.headers,
    )


def _error(error: PaymentApiError) -> web.Response:
    return web.Response(
        status=error.status,
        body=orjson.dumps({"error": {"code": error.code, "message": error.message}}),
        content_type="application/json",
    )


def _callback_answer(answer: CallbackAnswer) -> web.Response:
    response = web.Response(
        status=answer.status, body=answer.body, headers=answer.headers
    )
    response.content_type = answer.content_type

    return response
