"""The built-in `slotegrator` adapter, registered like any third-party package.

This module is the entry point named in the `gamegate.adapters` group. What
the adapter supports (operations, currencies, signature, money format, error
codes) is declared at the top of `adapters.slotegrator.adapter`.
"""

from __future__ import annotations

from adapters.slotegrator.adapter import SlotegratorAdapter
from adapters.slotegrator.config import SlotegratorConfig
from contracts import hookimpl
from contracts.hookspecs import Register

__all__ = ["SlotegratorAdapter", "SlotegratorConfig", "register_adapters"]


@hookimpl
def register_adapters(register: Register) -> None:
    """Offer the `slotegrator` adapter to the gateway."""
    register(SlotegratorAdapter)
