"""The built-in `pragmatic` adapter, registered like any third-party package.

This module is the entry point named in the `gamegate.adapters` group. What
the adapter supports (operations, currencies, hash, money format, error
codes) is declared at the top of `adapters.pragmatic.adapter`.
"""

from __future__ import annotations

from adapters.pragmatic.adapter import PragmaticAdapter
from adapters.pragmatic.config import PragmaticConfig
from contracts import hookimpl
from contracts.hookspecs import Register

__all__ = ["PragmaticAdapter", "PragmaticConfig", "register_adapters"]


@hookimpl
def register_adapters(register: Register) -> None:
    """Offer the `pragmatic` adapter to the gateway."""
    register(PragmaticAdapter)
