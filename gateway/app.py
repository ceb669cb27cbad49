"""The aiohttp application: the operator API, provider callbacks, health.

Provider callbacks are the hot path: they are read by the instance's adapter,
applied by the ledger and answered in the provider's own protocol, with
nothing else in the way. Operator API errors are JSON with stable codes,
rendered in one place (`_operator_error`).

Each handler reads the configuration snapshot in force once (`Runtime` in
`gateway.reload`), so a reload never changes a request half-way through. A
launch is routed by `gateway.routing` and made through `gateway.resilience`:
retried only where that is safe, moved to the rule's fallback only when it
failed before reaching the provider.
"""

from __future__ import annotations

import hmac
import itertools
import os
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Annotated, Any, TypeVar

import orjson
import structlog
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from contracts.adapter import Callback, CallbackAnswer, GameAdapter
from contracts.errors import (
    BadRequest,
    BodyTooLarge,
    GamegateError,
    ProviderError,
    UnknownCurrency,
)
from contracts.launch import Device, LaunchRequest, LaunchResult, Mode
from contracts.money import CurrencyTable, Money
from contracts.payments import PaymentAdapter
from contracts.wallet import Operation, Status
from gateway import clock
from gateway.admin import add_admin_routes
from gateway.config import Config, OperatorWalletConfig
from gateway.db import Database, upgrade
from gateway.ledger import Ledger, player_ref
from gateway.metrics import Metrics, metrics_handler, metrics_middleware, own_seconds
from gateway.operator_wallet import OperatorWalletClient
from gateway.payments.api import add_payment_routes, payment_webhook
from gateway.plugins import AdapterRegistry
from gateway.reload import RUNTIME, Runtime, Snapshot, build_snapshot, file_version
from gateway.resilience import CallFailed, Spent
from gateway.routing import Route, RouteQuery
from gateway.sessions import GameSession
from gateway.settlement import RemoteWallet

log = structlog.get_logger(__name__)

PlayerId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,64}$")]
Reference = Annotated[str, StringConstraints(min_length=1, max_length=128)]

BodyT = TypeVar("BodyT", bound=BaseModel)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


__all__ = ["RUNTIME", "Runtime", "Snapshot", "build_app"]


class OperatorError(Exception):
    """An operator API request refused with an HTTP status and a stable code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SessionBody(_Body):
    """The body of `POST /v1/sessions`: who plays which game, and how."""

    player: PlayerId
    game: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9]{1,9}$")]
    mode: Mode = Mode.REAL
    language: Annotated[str, StringConstraints(max_length=16)] = "en"
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] | None = None
    jurisdiction: Annotated[str, StringConstraints(max_length=16)] | None = None
    device: Device = Device.DESKTOP
    ip: Annotated[str, StringConstraints(max_length=64)] | None = None
    lobby_url: Annotated[str, StringConstraints(max_length=2048)] | None = None
    cashier_url: Annotated[str, StringConstraints(max_length=2048)] | None = None
    provider: str | None = None
    brand: Annotated[str, StringConstraints(max_length=64)] | None = None


class TransferBody(_Body):
    """The body of `POST /v1/wallet/transfers`: money in or out, once per reference."""

    player: PlayerId
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9]{1,9}$")]
    amount: Annotated[str, StringConstraints(max_length=40)]
    direction: Annotated[str, StringConstraints(pattern=r"^(credit|debit)$")]
    reference: Reference = Field(description="the operator's idempotency key")


def build_app(
    config: Config,
    registry: AdapterRegistry,
    *,
    config_path: Path | None = None,
    environ: Mapping[str, str] | None = None,
    sighup: bool = False,
) -> web.Application:
    """Build the gateway's application for one validated configuration.

    `config_path` is the file the config came from, read again on a reload
    (with `environ`, the process environment by default); `sighup` reloads
    it on that signal, which only the process's own server should ask for.
    """
    metrics = Metrics(providers=config.providers)
    app = web.Application(
        client_max_size=config.limits.max_body_bytes,
        middlewares=[_request_id_middleware, metrics_middleware(metrics)],
    )
    app[RUNTIME] = _runtime(config, registry, metrics, config_path, environ)
    app[SIGHUP] = sighup
    app.router.add_post("/v1/sessions", launch)
    app.router.add_get("/v1/sessions/{session_id}", get_session)
    app.router.add_post("/v1/wallet/transfers", transfer)
    app.router.add_get("/v1/players/{player}/balance", get_balance)
    app.router.add_route("*", "/providers/{instance}/{path:.*}", provider_callback)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_handler(metrics))
    add_admin_routes(app)
    app.on_startup.append(_open)
    app.on_cleanup.append(_close)
    add_payment_routes(app)

    return app


SIGHUP = web.AppKey("sighup", bool)


def _runtime(
    config: Config,
    registry: AdapterRegistry,
    metrics: Metrics,
    config_path: Path | None,
    environ: Mapping[str, str] | None,
) -> Runtime:
    db = Database(config.database)
    version = file_version(config_path, config)
    snapshot = build_snapshot(config, version, registry, db, metrics)
    remote_wallet = remote_wallet_for(config, db)

    return Runtime(
        snapshot,
        db=db,
        ledger=Ledger(db, remote_wallet),
        metrics=metrics,
        registry=registry,
        remote_wallet=remote_wallet,
        config_path=config_path,
        environ=os.environ if environ is None else environ,
    )


def remote_wallet_for(config: Config, db: Database) -> RemoteWallet | None:
    """Return the casino's wallet when the config names one, else None."""
    wallet = config.wallet
    if not isinstance(wallet, OperatorWalletConfig):
        return None
    client = OperatorWalletClient(
        wallet.url,
        wallet.secret.get_secret_value(),
        deadline=wallet.deadline_seconds,
        attempts=wallet.attempts,
    )

    return RemoteWallet(db, client)


async def _open(app: web.Application) -> None:
    runtime = app[RUNTIME]
    upgrade(runtime.config.database)
    await runtime.db.open()
    if runtime.remote_wallet is not None:
        await runtime.remote_wallet.start()
    reloads = app[SIGHUP] and runtime.install_sighup()
    log.info(
        "gateway.started",
        providers=sorted(runtime.adapters),
        wallet=runtime.config.wallet.mode,
        config_version=runtime.snapshot.version.hash,
        reload_on_sighup=reloads,
    )


async def _close(app: web.Application) -> None:
    runtime = app[RUNTIME]
    if app[SIGHUP]:
        runtime.remove_sighup()
    await runtime.aclose()
    if runtime.remote_wallet is not None:
        await runtime.remote_wallet.close()
    await runtime.db.close()


# Request ids are this process's random prefix and a counter: unique like a
# uuid4, without a call into the OS's random source on every request.
_REQUEST_ID_PREFIX = secrets.token_hex(8)
_request_numbers = itertools.count(1)


@web.middleware
async def _request_id_middleware(request: web.Request, handler: Handler) -> Any:
    request_id = request.headers.get("X-Request-Id", "")[:64] or (
        f"{_REQUEST_ID_PREFIX}{next(_request_numbers):08x}"
    )
    # Resetting the one variable bound is cheaper than clearing the context,
    # which copies and walks every context variable on each request.
    tokens = structlog.contextvars.bind_contextvars(request_id=request_id)
    try:
        response = await handler(request)
    finally:
        structlog.contextvars.reset_contextvars(**tokens)
    response.headers["X-Request-Id"] = request_id

    return response


async def provider_callback(request: web.Request) -> web.Response:
    """Verify, apply and answer one provider callback, in its own protocol."""
    started = time.perf_counter()
    runtime = request.app[RUNTIME]
    instance = request.match_info["instance"]
    adapter = runtime.adapters.get(instance)
    if adapter is None:
        return _json(404, {"error": {"code": "unknown_provider", "message": instance}})
    if isinstance(adapter, PaymentAdapter):
        return await payment_webhook(request, instance, adapter)

    callback = Callback(
        path=request.match_info["path"],
        method=request.method,
        headers=request.headers,
        query=request.query,
        body=b"",
        remote=request.remote,
    )
    try:
        callback = await _with_body(request, callback, adapter)
        wallet_request = adapter.parse_callback(callback)
    except GamegateError as error:
        log.info("callback.refused", provider=instance, reason=error.code)
        return _answer(adapter.render_error(callback, error))

    try:
        outcome = await runtime.ledger.apply(instance, adapter.profile, wallet_request)
    except Exception:
        log.exception("callback.failed", provider=instance)
        failure = ProviderError("internal error", retryable=True)
        return _answer(adapter.render_error(callback, failure))
    runtime.metrics.record_outcome(instance, wallet_request, outcome)
    answer = _answer(adapter.render_outcome(callback, wallet_request, outcome))
    runtime.metrics.observe_overhead("wallet_callback", own_seconds(started))

    return answer


async def _with_body(
    request: web.Request, callback: Callback, adapter: GameAdapter
) -> Callback:
    if callback.path not in adapter.callback_paths:
        raise BadRequest(f"no callback {callback.path[:64]!r} in this protocol")
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise BodyTooLarge("body larger than the configured limit") from None

    return Callback(
        path=callback.path,
        method=callback.method,
        headers=callback.headers,
        query=callback.query,
        body=body,
        remote=callback.remote,
    )


def _answer(answer: CallbackAnswer) -> web.Response:
    response = web.Response(
        status=answer.status, body=answer.body, headers=answer.headers
    )
    response.content_type = answer.content_type

    return response


async def launch(request: web.Request) -> web.Response:
    """Launch a game for a player: route, record the session, ask the provider."""
    started = time.perf_counter()
    runtime = request.app[RUNTIME]
    spent = Spent()
    with runtime.lease() as snapshot:
        try:
            operator = _operator(request, snapshot.config)
            body = await _parse(request, SessionBody)
            _check_currency(snapshot.currencies, body.currency)
            candidates = _route(snapshot, operator, body)
            session, result = await _launch(
                runtime, snapshot, operator, candidates, body, spent
            )
        except OperatorError as error:
            return _operator_error(error)

    runtime.metrics.observe_overhead(
        "launch", time.perf_counter() - started - spent.seconds
    )
    log.info("session.opened", provider=session.provider, session_id=session.id)
    return _json(
        201,
        {
            "url": result.url,
            "session_id": session.id,
            "provider": session.provider,
            "expires_at": clock.to_text(session.expires_at),
        },
    )


async def _launch(
    runtime: Runtime,
    snapshot: Snapshot,
    operator: str,
    candidates: tuple[str, ...],
    body: SessionBody,
    spent: Spent,
) -> tuple[GameSession, LaunchResult]:
    await runtime.ledger.open_account(operator, body.player, body.currency)
    session = await snapshot.sessions.open(
        operator=operator,
        player=body.player,
        provider=candidates[0],
        game=body.game,
        currency=body.currency,
        mode=body.mode,
    )
    launch_request = LaunchRequest(
        session_token=session.token,
        player=player_ref(operator, body.player),
        **body.model_dump(exclude={"player", "provider", "brand"}),
    )

    # Each candidate after the first is tried only when every request to
    # the one before failed before reaching it, so no provider can hold a
    # session that the gateway then moved elsewhere.
    failure: CallFailed | None = None
    for instance in candidates:
        if failure is not None:
            runtime.metrics.count_fallback(failure.instance, "launch")
            log.warning("session.fallback", failed=failure.instance, next=instance)
            session = await snapshot.sessions.repin(session, instance)
        provider = snapshot.providers[instance]
        try:
            result = await provider.call(
                "launch",
                partial(provider.adapter.launch, launch_request),
                safe=False,
                spent=spent,
            )
        except CallFailed as failed:
            log.warning(
                "session.launch_failed",
                provider=instance,
                reason=failed.error.message,
                reached=failed.reached,
            )
            failure = failed
            if not failed.fallback_safe:
                break
            continue
        return session, result

    assert failure is not None  # the loop returns or records a failure
    status = 503 if failure.error.retryable or failure.fallback_safe else 502
    raise OperatorError(status, "provider_error", failure.error.message)


def _route(snapshot: Snapshot, operator: str, body: SessionBody) -> tuple[str, ...]:
    # A session is never routed again once open: callbacks name their
    # instance in the URL and every later call reads `session.provider`.
    if body.provider is not None:
        configured = snapshot.config.providers.get(body.provider)
        if configured is None or configured.kind != "game":
            raise OperatorError(
                404, "unknown_provider", f"no provider {body.provider!r}"
            )
        return (body.provider,)

    route = snapshot.router.route(_query(operator, body), snapshot.health)
    if not route.candidates:
        raise OperatorError(404, "unknown_game", f"no route serves game {body.game!r}")
    _log_route(route)

    return route.candidates


def _query(operator: str, body: SessionBody) -> RouteQuery:
    return RouteQuery(
        game=body.game,
        operator=operator,
        player=body.player,
        brand=body.brand,
        country=body.country,
        jurisdiction=body.jurisdiction,
        currency=body.currency,
        device=body.device.value,
        mode=body.mode.value,
    )


def _log_route(route: Route) -> None:
    if route.unhealthy:
        log.info(
            "session.routed_around",
            preferred=route.preferred,
            unhealthy=dict(route.unhealthy),
            serves=route.serves,
        )


async def get_session(request: web.Request) -> web.Response:
    """Return one of the operator's game sessions, with the instance it keeps."""
    snapshot = request.app[RUNTIME].snapshot
    try:
        operator = _operator(request, snapshot.config)
        session = await snapshot.sessions.get(request.match_info["session_id"])
        if session is None or session.operator != operator:
            raise OperatorError(404, "unknown_session", "no such session")
    except OperatorError as error:
        return _operator_error(error)

    return _json(
        200,
        {
            "session_id": session.id,
            "player": session.player,
            "provider": session.provider,
            "game": session.game,
            "currency": session.currency,
            "mode": session.mode.value,
            "created_at": clock.to_text(session.created_at),
            "expires_at": clock.to_text(session.expires_at),
        },
    )


async def transfer(request: web.Request) -> web.Response:
    """Credit or debit a built-in balance once per operator reference."""
    runtime = request.app[RUNTIME]
    snapshot = runtime.snapshot
    try:
        operator = _operator(request, snapshot.config)
        if runtime.remote_wallet is not None:
            raise OperatorError(
                409, "operator_wallet", "balances live in the casino's own wallet"
            )
        body = await _parse(request, TransferBody)
        money = _money(snapshot.currencies, body.amount, body.currency)
        operation = Operation.CREDIT if body.direction == "credit" else Operation.DEBIT
        outcome = await runtime.ledger.transfer(
            operator,
            body.player,
            operation=operation,
            amount=money,
            currency=body.currency,
            reference=body.reference,
        )
        if outcome.status is not Status.OK:
            raise OperatorError(409, outcome.status.value, outcome.message)
    except OperatorError as error:
        return _operator_error(error)

    return _json(
        200,
        {
            "player": body.player,
            "currency": body.currency,
            "balance": _formatted(snapshot.currencies, outcome.balance, body.currency),
            "replay": outcome.operations[0].replay,
            "transaction_id": outcome.operations[0].gateway_transaction_id,
        },
    )


async def get_balance(request: web.Request) -> web.Response:
    """Return a player's built-in balance in one currency."""
    runtime = request.app[RUNTIME]
    snapshot = runtime.snapshot
    try:
        operator = _operator(request, snapshot.config)
        currency = request.query.get("currency", "")
        _check_currency(snapshot.currencies, currency)
        player = request.match_info["player"]
        minor = await runtime.ledger.balance(operator, player, currency)
        if minor is None:
            raise OperatorError(404, "unknown_player", "no balance in that currency")
    except OperatorError as error:
        return _operator_error(error)

    return _json(
        200,
        {
            "player": player,
            "currency": currency,
            "balance": _formatted(snapshot.currencies, minor, currency),
        },
    )


async def healthz(request: web.Request) -> web.Response:
    """Answer that the process is alive."""
    return _json(200, {"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Answer whether the database answers."""
    try:
        await request.app[RUNTIME].db.one("SELECT 1")
    except Exception:
        return _json(503, {"status": "unavailable"})
    return _json(200, {"status": "ready"})


def _operator(request: web.Request, config: Config) -> str:
    header = request.headers.get("Authorization", "")
    key = header.removeprefix("Bearer ").strip() or request.headers.get("X-Api-Key", "")
    for operator in config.operators:
        for candidate in operator.api_keys:
            if hmac.compare_digest(candidate.get_secret_value().encode(), key.encode()):
                return operator.name

    raise OperatorError(401, "unauthorized", "missing or unknown API key")


async def _parse(request: web.Request, model: type[BodyT]) -> BodyT:
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise OperatorError(413, "body_too_large", "body larger than allowed") from None
    try:
        return model.model_validate_json(raw)
    except ValidationError as error:
        problem = error.errors()[0]
        where = ".".join(str(part) for part in problem["loc"]) or "body"
        raise OperatorError(400, "bad_request", f"{where}: {problem['msg']}") from None


def _check_currency(currencies: CurrencyTable, currency: str) -> None:
    if not currencies.knows(currency):
        raise OperatorError(
            400, "unknown_currency", f"unknown currency {currency[:16]!r}"
        )


def _money(currencies: CurrencyTable, amount: str, currency: str) -> int:
    _check_currency(currencies, currency)
    try:
        return currencies.parse(amount, currency).minor
    except (BadRequest, UnknownCurrency) as error:
        places = currencies.exponent(currency)
        detail = f"amount: {error.message} ({currency} has {places} decimals)"
        raise OperatorError(400, error.code, detail) from None


def _formatted(
    currencies: CurrencyTable, minor: int | None, currency: str
) -> str | None:
    if minor is None:
        return None
    return currencies.format(Money(minor, currency))


def _operator_error(error: OperatorError) -> web.Response:
    return _json(
        error.status, {"error": {"code": error.code, "message": error.message}}
    )


def _json(status: int, payload: object) -> web.Response:
    return web.Response(
        status=status, body=orjson.dumps(payload), content_type="application/json"
    )
