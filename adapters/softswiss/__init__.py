"""The built-in `softswiss` adapter, registered like any third-party package.

This module is the entry point named in the `gamegate.adapters` group. What
the adapter supports (operations, currencies, signature, money format, error
codes) is declared at the top of `adapters.softswiss.adapter`.
"""

from __future__ import annotations

from adapters.softswiss.adapter import SoftswissAdapter
from adapters.softswiss.config import SoftswissConfig
from contracts import hookimpl
from contracts.hookspecs import Register

__all__ = ["SoftswissAdapter", "SoftswissConfig", "register_adapters"]


@hookimpl
def register_adapters(register: Register) -> None:
    """Offer the `softswiss` adapter to the gateway."""
    register(SoftswissAdapter)
