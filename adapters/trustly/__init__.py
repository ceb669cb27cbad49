"""The built-in `trustly` payment adapter, registered like any third-party package.

This module is the entry point named in the `gamegate.adapters` group. What
the adapter supports (operations, currencies, signature, money format,
notifications and failures) is declared at the top of
`adapters.trustly.adapter`.
"""

from __future__ import annotations

from adapters.trustly.adapter import TrustlyAdapter
from adapters.trustly.config import TrustlyConfig
from contracts import hookimpl
from contracts.hookspecs import Register

__all__ = ["TrustlyAdapter", "TrustlyConfig", "register_adapters"]


@hookimpl
def register_adapters(register: Register) -> None:
    """Offer the `trustly` adapter to the gateway."""
    register(TrustlyAdapter)
