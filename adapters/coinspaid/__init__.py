"""The built-in `coinspaid` payment adapter, registered like any third-party package.

This module is the entry point named in the `gamegate.adapters` group. What
the adapter supports (operations, currencies, signature, money format, status
and error tables) is declared at the top of `adapters.coinspaid.adapter`.
"""

from __future__ import annotations

from adapters.coinspaid.adapter import CoinspaidAdapter
from adapters.coinspaid.config import CoinspaidConfig
from contracts import hookimpl
from contracts.hookspecs import Register

__all__ = ["CoinspaidAdapter", "CoinspaidConfig", "register_adapters"]


@hookimpl
def register_adapters(register: Register) -> None:
    """Offer the `coinspaid` adapter to the gateway."""
    register(CoinspaidAdapter)
