"""Trustly's JSON-RPC API, simulated: deposits, withdrawals, payouts and refunds.

It answers `POST /api/1` as Trustly does: every call must carry a
`Signature` by the merchant's private key over method + UUID + serialized
`Data`, and the configured username and password in `Data`. Answers are
signed with the simulator's own key pair, made at start, whose public half
is what the merchant configures as `trustly_public_key`. Refusals are signed
JSON-RPC errors with Trustly's codes; faults (an HTTP error, an unsigned
answer, an answer naming another call, a hang) can be queued for tests.
Notifications for the orders it holds are made by `notification` and sent
by `notify`.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import uuid as uuids
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from html import escape
from types import TracebackType
from typing import Any, Literal

import httpx
import orjson
from aiohttp import web

from examples.trustly_simulator.keys import KeyPair, public_key, verifies
from examples.trustly_simulator.notifications import Notification, Reply, send

API_PATH = "/api/1"
_AMOUNT = re.compile(r"[0-9]+\.[0-9]{2}")
_CURRENCY = re.compile(r"[A-Z]{3}")
FaultKind = Literal["status", "unsigned", "foreign_uuid", "hang"]


class Refusal(Exception):
    """A call the simulated Trustly refuses with one of its error codes."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code} {message}")
        self.code = code
        self.message = message


@dataclass
class SimulatedOrder:
    """An order the simulator made, and what the merchant asked for."""

    order_id: str
    method: str
    message_id: str
    end_user_id: str
    currency: str
    amount: str | None
    notification_url: str
    attributes: Mapping[str, Any]
    account_id: str | None = None
    status: str = "open"
    refunded: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class ReceivedCall:
    """A call whose signature and credentials held, as the merchant sent it."""

    method: str
    uuid: str
    data: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Fault:
    """A way to misbehave on the next call: see `TrustlySimulator.inject`."""

    kind: FaultKind
    status: int = 500


@dataclass
class TrustlySimulator:
    """The simulated Trustly: its key pair, its orders and what merchants asked.

    `merchant_public_key` verifies the merchant's calls and its notification
    replies. Order and notification ids count up, so a run is repeatable.
    """

    merchant_public_key: str
    username: str = "merchant"
    password: str = "merchant-password"
    keys: KeyPair = field(default_factory=KeyPair.generate)
    orders: dict[str, SimulatedOrder] = field(default_factory=dict, init=False)
    calls: list[ReceivedCall] = field(default_factory=list, init=False)
    replies: list[Reply] = field(default_factory=list, init=False)
    base_url: str = field(default="http://127.0.0.1", init=False)

    def __post_init__(self) -> None:
        self._merchant_key = public_key(self.merchant_public_key)
        self._order_ids = itertools.count(1_000_000_001)
        self._notification_ids = itertools.count(2_000_000_001)
        self._refusals: list[tuple[int, str]] = []
        self._faults: list[Fault] = []
        self._released = asyncio.Event()

    @property
    def public_pem(self) -> str:
        """Trustly's public key, for the merchant's `trustly_public_key`."""
        return self.keys.public_pem

    def refuse_next(self, code: int, message: str, times: int = 1) -> None:
        """Answer the next `times` calls with the signed error `code`."""
        self._refusals.extend([(code, message)] * times)

    def inject(self, fault: Fault, times: int = 1) -> None:
        """Misbehave on the next `times` calls."""
        self._faults.extend([fault] * times)

    def release(self) -> None:
        """Let every hanging call end."""
        self._released.set()

    async def hang(self) -> None:
        """Wait until `release`, as a call that never gets an answer does."""
        await self._released.wait()

    def answer(self, body: bytes) -> tuple[int, dict[str, Any]]:
        """Answer one call: its HTTP status and JSON-RPC document."""
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            return 200, self._error(None, None, 623, "ERROR_INVALID_PARAMETERS")
        if not isinstance(document, dict) or not isinstance(
            document.get("params"), dict
        ):
            return 200, self._error(None, None, 623, "ERROR_INVALID_PARAMETERS")

        method = document.get("method")
        params = document["params"]
        uuid, data = params.get("UUID"), params.get("Data")
        if not isinstance(method, str) or not isinstance(uuid, str):
            return 200, self._error(None, None, 623, "ERROR_INVALID_PARAMETERS")
        try:
            result = self._handle(method, uuid, data, params.get("Signature"))
        except Refusal as refusal:
            return 200, self._error(method, uuid, refusal.code, refusal.message)

        return 200, self._result(method, uuid, result)

    def next_fault(self) -> Fault | None:
        """Take the next queued fault, if any."""
        return self._faults.pop(0) if self._faults else None

    def notification(
        self,
        order_id: str,
        method: str,
        *,
        amount: str | None = None,
        notification_id: str | None = None,
        **extra: Any,
    ) -> Notification:
        """Make Trustly's signed notification `method` about one order."""
        order = self.orders[order_id]
        data: dict[str, Any] = {
            "messageid": order.message_id,
            "orderid": order.order_id,
            "notificationid": notification_id or str(next(self._notification_ids)),
            "enduserid": order.end_user_id,
            "timestamp": _timestamp(),
        }
        if method != "cancel":
            data["amount"] = amount or order.amount or "0.00"
            data["currency"] = order.currency
        data.update(extra)
        uuid = str(uuids.uuid4())

        return Notification(
            method=method,
            uuid=uuid,
            data=data,
            signature=self.keys.sign(method, uuid, data),
            url=order.notification_url,
        )

    async def notify(
        self,
        notification: Notification,
        http: httpx.AsyncClient | None = None,
        url: str | None = None,
    ) -> Reply:
        """Send a notification and verify the merchant's reply."""
        if http is None:
            async with httpx.AsyncClient() as client:
                reply = await send(notification, self._merchant_key, client, url)
        else:
            reply = await send(notification, self._merchant_key, http, url)
        self.replies.append(reply)
        self._note(reply)

        return reply

    @asynccontextmanager
    async def serve(self, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
        """Serve the simulated API over HTTP and yield its base URL."""
        runner = web.AppRunner(create_app(self))
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port)
            await site.start()
            bound_port = runner.addresses[0][1]
            shown = f"[{host}]" if ":" in host else host
            self.base_url = f"http://{shown}:{bound_port}"
            yield self.base_url
        finally:
            self.release()
            await runner.cleanup()

    def _handle(
        self, method: str, uuid: str, data: object, signature: object
    ) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise Refusal(623, "ERROR_INVALID_PARAMETERS")
        if not verifies(self._merchant_key, method, uuid, data, signature):
            raise Refusal(636, "ERROR_UNABLE_TO_VERIFY_RSA_SIGNATURE")
        if (data.get("Username"), data.get("Password")) != (
            self.username,
            self.password,
        ):
            raise Refusal(616, "ERROR_INVALID_CREDENTIALS")
        handler = self._handlers().get(method)
        if handler is None:
            raise Refusal(623, "ERROR_INVALID_PARAMETERS")

        self.calls.append(ReceivedCall(method, uuid, data))
        if self._refusals:
            raise Refusal(*self._refusals.pop(0))

        return handler(data)

    def _handlers(self) -> Mapping[str, Callable[[dict[str, Any]], dict[str, Any]]]:
        return {
            "Deposit": self._deposit,
            "Withdraw": self._withdraw,
            "AccountPayout": self._account_payout,
            "ApproveWithdrawal": self._approve,
            "DenyWithdrawal": self._deny,
            "Refund": self._refund,
        }

    def _deposit(self, data: dict[str, Any]) -> dict[str, Any]:
        attributes = _object(data, "Attributes")
        for name in ("Country", "Locale", "SuccessURL", "FailURL"):
            _text(attributes, name)
        order = self._open("Deposit", data, _currency(attributes), attributes)
        order.amount = _amount(attributes, "Amount")

        return {"orderid": order.order_id, "url": self._checkout(order)}

    def _withdraw(self, data: dict[str, Any]) -> dict[str, Any]:
        attributes = _object(data, "Attributes")
        for name in ("Country", "Locale"):
            _text(attributes, name)
        order = self._open("Withdraw", data, _currency(data), attributes)
        if attributes.get("SuggestedAmount") is not None:
            order.amount = _amount(attributes, "SuggestedAmount")

        return {"orderid": order.order_id, "url": self._checkout(order)}

    def _account_payout(self, data: dict[str, Any]) -> dict[str, Any]:
        order = self._open("AccountPayout", data, _currency(data), {})
        order.amount = _amount(data, "Amount")
        order.account_id = _text(data, "AccountID")
        order.status = "processing"

        return {"orderid": order.order_id, "result": "1"}

    def _approve(self, data: dict[str, Any]) -> dict[str, Any]:
        order = self._order(data, "Withdraw")
        if order.status != "debited":
            return {"orderid": order.order_id, "result": "0"}
        order.status = "approved"

        return {"orderid": order.order_id, "result": "1"}

    def _deny(self, data: dict[str, Any]) -> dict[str, Any]:
        order = self._order(data, "Withdraw")
        if order.status not in ("open", "debited"):
            return {"orderid": order.order_id, "result": "0"}
        order.status = "denied"

        return {"orderid": order.order_id, "result": "1"}

    def _refund(self, data: dict[str, Any]) -> dict[str, Any]:
        order = self._order(data, "Deposit")
        amount = Decimal(_amount(data, "Amount"))
        if _text(data, "Currency") != order.currency:
            raise Refusal(622, "ERROR_INVALID_CURRENCY_CODE")
        if order.refunded + amount > Decimal(order.amount or "0"):
            raise Refusal(615, "ERROR_INVALID_AMOUNT")
        order.refunded += amount

        return {"orderid": order.order_id, "result": "1"}

    def _open(
        self,
        method: str,
        data: dict[str, Any],
        currency: str,
        attributes: Mapping[str, Any],
    ) -> SimulatedOrder:
        message_id = _text(data, "MessageID")
        if any(order.message_id == message_id for order in self.orders.values()):
            raise Refusal(637, "ERROR_DUPLICATE_MESSAGE_ID")
        notification_url = _text(data, "NotificationURL")
        if "?" in notification_url:
            raise Refusal(623, "ERROR_INVALID_PARAMETERS")

        order = SimulatedOrder(
            order_id=str(next(self._order_ids)),
            method=method,
            message_id=message_id,
            end_user_id=_text(data, "EndUserID"),
            currency=currency,
            amount=None,
            notification_url=notification_url,
            attributes=dict(attributes),
        )
        self.orders[order.order_id] = order

        return order

    def _order(self, data: dict[str, Any], method: str) -> SimulatedOrder:
        order = self.orders.get(str(data.get("OrderID")))
        if order is None or order.method != method:
            raise Refusal(620, "ERROR_UNKNOWN")

        return order

    def _checkout(self, order: SimulatedOrder) -> str:
        return f"{self.base_url}/checkout/{order.order_id}"

    def _note(self, reply: Reply) -> None:
        # Trustly moves a withdrawal on once the merchant took the player's money.
        order = self.orders.get(str(reply.notification.data.get("orderid")))
        if order is None or not reply.ok:
            return
        if reply.notification.method == "debit" and order.method == "Withdraw":
            order.status = "debited"
        if reply.notification.method == "payoutconfirmation":
            order.status = "paid"

    def _result(self, method: str, uuid: str, data: dict[str, Any]) -> dict[str, Any]:
        signature = self.keys.sign(method, uuid, data)
        result = {"signature": signature, "uuid": uuid, "method": method, "data": data}

        return {"result": result, "version": "1.1"}

    def _error(
        self, method: str | None, uuid: str | None, code: int, message: str
    ) -> dict[str, Any]:
        data = {"code": code, "message": message}
        inner = {
            "signature": self.keys.sign(method or "", uuid or "", data),
            "uuid": uuid,
            "method": method,
            "data": data,
        }
        error = {"name": "JSONRPCError", "code": code, "message": message}

        return {"version": "1.1", "error": {**error, "error": inner}}


class SimulatorRun(AbstractAsyncContextManager[str]):
    """A simulator to serve: entering it yields its base URL.

    `api_url` is what the merchant configures as `api_url` once entered,
    `public_pem` its `trustly_public_key`; `simulator` holds the orders.
    """

    def __init__(self, simulator: TrustlySimulator, host: str, port: int) -> None:
        self.simulator = simulator
        self.base_url = ""
        self._serving = simulator.serve(host, port)

    @property
    def api_url(self) -> str:
        """The JSON-RPC endpoint's URL."""
        return f"{self.base_url}{API_PATH}"

    @property
    def public_pem(self) -> str:
        """Trustly's public key, for the merchant's `trustly_public_key`."""
        return self.simulator.public_pem

    async def __aenter__(self) -> str:
        self.base_url = await self._serving.__aenter__()
        return self.base_url

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> bool | None:
        return await self._serving.__aexit__(kind, error, trace)


def run_simulator(
    merchant_public_key: str,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    username: str = "merchant",
    password: str = "merchant-password",
    keys: KeyPair | None = None,
) -> SimulatorRun:
    """Start a fresh simulator on `host:port` (0 picks a free port).

    Use as `async with run_simulator(merchant_pem) as base_url:`; the object
    returned also shows the key (`run.public_pem`), the endpoint
    (`run.api_url`) and the orders. `keys` reuses a key pair (tests make one
    per session) instead of a new one.
    """
    simulator = TrustlySimulator(
        merchant_public_key,
        username=username,
        password=password,
        keys=keys or KeyPair.generate(),
    )

    return SimulatorRun(simulator, host, port)


SIMULATOR = web.AppKey("simulator", TrustlySimulator)


def create_app(simulator: TrustlySimulator) -> web.Application:
    """Build the aiohttp application that answers the simulated API."""
    app = web.Application()
    app[SIMULATOR] = simulator
    app.router.add_post(API_PATH, _api)
    app.router.add_get("/checkout/{order_id}", _checkout_page)

    return app


async def _api(request: web.Request) -> web.StreamResponse:
    simulator = request.app[SIMULATOR]
    body = await request.read()

    fault = simulator.next_fault()
    if fault is not None and fault.kind == "status":
        return web.json_response({"error": "simulated failure"}, status=fault.status)
    if fault is not None and fault.kind == "hang":
        await simulator.hang()
        raise web.HTTPServiceUnavailable()

    status, document = simulator.answer(body)
    if fault is not None:
        document = _mangled(document, fault.kind)

    return web.json_response(document, status=status)


def _mangled(document: dict[str, Any], kind: FaultKind) -> dict[str, Any]:
    result = document.get("result")
    if not isinstance(result, dict):
        return document
    if kind == "unsigned":
        result = {**result, "signature": "bm90IGEgc2lnbmF0dXJl"}
    if kind == "foreign_uuid":
        result = {**result, "uuid": str(uuids.uuid4())}

    return {**document, "result": result}


async def _checkout_page(request: web.Request) -> web.Response:
    simulator = request.app[SIMULATOR]
    order = simulator.orders.get(request.match_info["order_id"])
    if order is None:
        raise web.HTTPNotFound(text="no such order")

    title = escape(f"Trustly {order.method} {order.order_id}")
    amount = escape(f"{order.amount or 'any amount'} {order.currency}")

    return web.Response(
        text=f"<!doctype html><title>{title}</title><h1>{title}</h1><p>{amount}</p>",
        content_type="text/html",
    )


def _timestamp() -> str:
    # Trustly writes PostgreSQL's text: "2010-01-20 14:42:04.675645+01".
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f+00")


def _object(data: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = data.get(name)
    if not isinstance(value, dict):
        raise Refusal(623, "ERROR_INVALID_PARAMETERS")
    return value


def _text(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise Refusal(623, "ERROR_INVALID_PARAMETERS")
    return value


def _amount(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not _AMOUNT.fullmatch(value):
        raise Refusal(615, "ERROR_INVALID_AMOUNT")
    if Decimal(value) <= 0:
        raise Refusal(615, "ERROR_INVALID_AMOUNT")
    return value


def _currency(data: Mapping[str, Any]) -> str:
    value = data.get("Currency")
    if not isinstance(value, str) or not _CURRENCY.fullmatch(value):
        raise Refusal(622, "ERROR_INVALID_CURRENCY_CODE")
    return value
