"""The `example` adapter package: an invented protocol behind gamegate's contract.

This module is the entry point named in the `gamegate.adapters` group of the
package's `pyproject.toml`; installing the package is all it takes for
gamegate to load it. What the adapter supports is declared at the top of
`adapter.py`.
"""

from __future__ import annotations

from contracts import hookimpl
from contracts.hookspecs import Register

from .adapter import ExampleAdapter
from .config import ExampleConfig

__all__ = ["ExampleAdapter", "ExampleConfig", "register_adapters"]


@hookimpl
def register_adapters(register: Register) -> None:
    """Offer the `example` adapter to the gateway."""
    register(ExampleAdapter)
