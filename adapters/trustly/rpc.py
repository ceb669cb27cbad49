"""Trustly's JSON-RPC 1.1 envelope: signed calls out, and answers read back.

A call is `{"method", "params": {"Signature", "UUID", "Data"}, "version":
"1.1"}`, signed over the method, the UUID and `Data` (which carries the API
username and password). Trustly's answer is either `{"result": {"signature",
"uuid", "method", "data"}}` or `{"error": {"code", "message", "error":
{"signature", "uuid", "method", "data": {"code", "message"}}}}`; only the
signed inner parts are believed. An answer that does not verify, or that
names another call's UUID or method, is `UnverifiedAnswer`; a verified error
is `Refusal`. The adapter turns both into `PaymentFailure` in one place.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

import orjson
from cryptography.hazmat.primitives.asymmetric import rsa

from adapters.trustly.signature import sign, verifies

VERSION = "1.1"


@dataclass(frozen=True, slots=True)
class ErrorCode:
    """What one of Trustly's error codes means for the gateway."""

    name: str
    shareable: bool
    outcome: Literal["declined", "unknown"] = "declined"


# Trustly's documented error codes ("Error messages", eu.developers.trustly.com
# /doc-old/docs/error-messages). `shareable` True keeps the gateway from trying
# another provider; see the table in `adapters.trustly.adapter`.
ERROR_CODES: Mapping[int, ErrorCode] = {
    602: ErrorCode("ERROR_FUNCTION_ACCESS_DENIED", False),
    607: ErrorCode("ERROR_HOST_ACCESS_DENIED", False),
    615: ErrorCode("ERROR_INVALID_AMOUNT", False),
    616: ErrorCode("ERROR_INVALID_CREDENTIALS", False),
    620: ErrorCode("ERROR_UNKNOWN", False),
    622: ErrorCode("ERROR_INVALID_CURRENCY_CODE", False),
    623: ErrorCode("ERROR_INVALID_PARAMETERS", False),
    636: ErrorCode("ERROR_UNABLE_TO_VERIFY_RSA_SIGNATURE", False),
    637: ErrorCode("ERROR_DUPLICATE_MESSAGE_ID", True, "unknown"),
    638: ErrorCode("ERROR_ENDUSER_IS_BLOCKED", True),
    639: ErrorCode("ERROR_NO_PUBLIC_KEY", False),
}
UNLISTED = ErrorCode("unlisted", False)


class UnverifiedAnswer(Exception):
    """Trustly's answer is not JSON-RPC, is not signed by Trustly, or is another's."""


class Refusal(Exception):
    """Trustly answered a call with a signed JSON-RPC error."""

    def __init__(self, code: int | None, message: str) -> None:
        super().__init__(f"{code} {message}")
        self.code = code
        self.message = message

    @property
    def meaning(self) -> ErrorCode:
        """The code's entry in `ERROR_CODES`, or `UNLISTED`."""
        return ERROR_CODES.get(self.code, UNLISTED) if self.code else UNLISTED


def request_body(
    key: rsa.RSAPrivateKey, method: str, uuid: str, data: Mapping[str, Any]
) -> bytes:
    """Return the signed JSON-RPC call of `method` with `data`."""
    params = {"Signature": sign(key, method, uuid, data), "UUID": uuid, "Data": data}

    return orjson.dumps({"method": method, "params": params, "version": VERSION})


def read_answer(
    key: rsa.RSAPublicKey, body: bytes, method: str, uuid: str
) -> dict[str, Any]:
    """Return the signed `data` of Trustly's answer to the call `method`/`uuid`.

    Raises `Refusal` for a signed error and `UnverifiedAnswer` for anything
    that is not a signed answer to this very call.
    """
    document = load_json(body)
    if not isinstance(document, dict):
        raise UnverifiedAnswer("answer is not a JSON object")

    result = document.get("result")
    if isinstance(result, dict):
        data = _signed_part(key, result, method, uuid)
        if not isinstance(data, dict):
            raise UnverifiedAnswer("answer data is not an object")
        return data

    error = document.get("error")
    inner = error.get("error") if isinstance(error, dict) else None
    if not isinstance(inner, dict):
        raise UnverifiedAnswer("answer carries neither a result nor a signed error")
    data = _signed_part(key, inner, method, uuid)
    if not isinstance(data, dict):
        raise UnverifiedAnswer("error data is not an object")

    raise Refusal(_code(data.get("code")), str(data.get("message", ""))[:200])


def accepted(data: Mapping[str, Any]) -> bool:
    """Return whether an answer's `result` flag says Trustly accepted the call."""
    return data.get("result") in ("1", 1, True)


def load_json(body: bytes) -> Any:
    """Parse JSON with numbers as `Decimal`, so each keeps its exact text."""
    try:
        return json.loads(body, parse_float=Decimal, parse_constant=_no_constant)
    except (ValueError, RecursionError) as error:
        raise UnverifiedAnswer("answer is not valid JSON") from error


def _signed_part(
    key: rsa.RSAPublicKey, part: Mapping[str, Any], method: str, uuid: str
) -> object:
    signed_method = part.get("method")
    signed_uuid = part.get("uuid")
    data = part.get("data")
    if not verifies(
        key,
        signed_method if isinstance(signed_method, str) else "",
        signed_uuid if isinstance(signed_uuid, str) else "",
        data,
        part.get("signature"),
    ):
        raise UnverifiedAnswer("answer signature does not verify")

    # A JSON-RPC level error names no call; any other must name this one.
    if signed_uuid is not None and signed_uuid != uuid:
        raise UnverifiedAnswer("answer is for another call's UUID")
    if signed_method is not None and signed_method != method:
        raise UnverifiedAnswer("answer is for another method")

    return data


def _code(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)

    return None


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")
