"""The built-in `adyen` payment adapter, registered like any third-party package.

This module is the entry point named in the `gamegate.adapters` group. What
the adapter supports (operations, methods, currencies, signature, money
format, failures) is declared at the top of `adapters.adyen.adapter`.
"""

from __future__ import annotations

from adapters.adyen.adapter import AdyenAdapter
from adapters.adyen.config import AdyenConfig
from contracts import hookimpl
from contracts.hookspecs import Register

__all__ = ["AdyenAdapter", "AdyenConfig", "register_adapters"]


@hookimpl
def register_adapters(register: Register) -> None:
    """Offer the `adyen` adapter to the gateway."""
    register(AdyenAdapter)
