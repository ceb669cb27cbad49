"""The built-in `evolution` adapter, registered like any third-party package.

This module is the entry point named in the `gamegate.adapters` group. What
the adapter supports (operations, currencies, authentication, money format,
statuses and where each fact came from) is declared at the top of
`adapters.evolution.adapter`.
"""

from __future__ import annotations

from adapters.evolution.adapter import EvolutionAdapter
from adapters.evolution.config import EvolutionConfig
from contracts import hookimpl
from contracts.hookspecs import Register

__all__ = ["EvolutionAdapter", "EvolutionConfig", "register_adapters"]


@hookimpl
def register_adapters(register: Register) -> None:
    """Offer the `evolution` adapter to the gateway."""
    register(EvolutionAdapter)
