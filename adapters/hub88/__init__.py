"""The built-in `hub88` adapter, registered like any third-party package.

This module is the entry point named in the `gamegate.adapters` group. What
the adapter supports (operations, currencies, signature, money format, status
codes) is declared at the top of `adapters.hub88.adapter`.
"""

from __future__ import annotations

from adapters.hub88.adapter import FreeBetReward, Hub88Adapter
from adapters.hub88.config import Hub88Config
from contracts import hookimpl
from contracts.hookspecs import Register

__all__ = ["FreeBetReward", "Hub88Adapter", "Hub88Config", "register_adapters"]


@hookimpl
def register_adapters(register: Register) -> None:
    """Offer the `hub88` adapter to the gateway."""
    register(Hub88Adapter)
