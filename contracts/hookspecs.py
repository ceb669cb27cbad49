"""The pluggy hook specifications an adapter package implements.

A package exposes a module through the entry-point group `gamegate.adapters`;
the gateway loads it and calls its hooks. Built-in adapters are registered
the same way as third-party ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from contracts.adapter import GameAdapter
    from contracts.payments import PaymentAdapter

PROJECT = "gamegate"
ENTRY_POINT_GROUP = "gamegate.adapters"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

Register = Callable[[type["GameAdapter"] | type["PaymentAdapter"]], None]


class AdapterSpecs:
    """Hooks called once at start-up, while the gateway collects adapters."""

    @hookspec
    def register_adapters(self, register: Register) -> None:
        """Call `register(AdapterClass)` once for each adapter the package offers.

        Not `firstresult`: every installed package is asked, in load order. A
        package may register several adapters; registering two adapters
        under one name stops start-up.
        """
