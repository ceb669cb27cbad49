"""The error hierarchy: one base, subclasses named after the condition.

Adapters raise these while reading a callback; the gateway renders each in
the caller's own protocol through the adapter, in one place.
"""

from __future__ import annotations


class GamegateError(Exception):
    """Base of every error gamegate raises on purpose."""

    code = "gamegate_error"

    def __init__(self, message: str = "", **context: object) -> None:
        super().__init__(message or self.__class__.__doc__ or self.code)
        self.message = message or (self.__class__.__doc__ or self.code).rstrip(".")
        self.context = context


class BadRequest(GamegateError):
    """The request is malformed or carries fields of the wrong type."""

    code = "bad_request"


class AmountError(BadRequest):
    """An amount is negative, not a number, or finer than its currency allows."""

    code = "bad_amount"


class UnknownCurrency(BadRequest):
    """A currency code is neither ISO 4217 nor configured."""

    code = "unknown_currency"

    def __init__(self, currency: str) -> None:
        super().__init__(f"unknown currency {currency[:16]!r}", currency=currency)
        self.currency = currency


class BodyTooLarge(BadRequest):
    """The request body is larger than the configured limit."""

    code = "body_too_large"


class InvalidSignature(GamegateError):
    """The request's signature or credential does not verify."""

    code = "invalid_signature"


class UnknownOperation(BadRequest):
    """The callback names an operation the adapter does not know."""

    code = "unknown_operation"


class ProviderError(GamegateError):
    """A provider's API failed or answered something unusable."""

    code = "provider_error"

    def __init__(
        self, message: str = "", *, retryable: bool = False, **context: object
    ):
        super().__init__(message, **context)
        self.retryable = retryable


class ConfigError(GamegateError):
    """The configuration is invalid; the message names the key path."""

    code = "config_error"
