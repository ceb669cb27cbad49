"""A simulated Evolution live casino: its launch and lobby APIs, its wallet calls.

`run_simulator` (or `Studio.serve`) starts the User Authentication and Lobby
APIs on loopback; `OneWalletClient` sends the One Wallet callbacks Evolution
sends to a casino, and is the conformance kit's `ProviderClient` for the
`evolution` adapter.
"""

from examples.evolution_simulator.client import STATUSES, OneWalletClient, json_bytes
from examples.evolution_simulator.studio import (
    DEFAULT_TABLES,
    LaunchedSession,
    Studio,
    StudioRefusal,
    StudioTable,
    create_app,
    run_simulator,
)

__all__ = [
    "DEFAULT_TABLES",
    "STATUSES",
    "LaunchedSession",
    "OneWalletClient",
    "Studio",
    "StudioRefusal",
    "StudioTable",
    "create_app",
    "json_bytes",
    "run_simulator",
]
