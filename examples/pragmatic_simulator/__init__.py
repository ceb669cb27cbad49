"""A simulated Pragmatic Play: its integration API and its wallet callbacks.

`run_simulator` (or `PragmaticSimulator.serve`) starts the game URL, game
list and free-round API on loopback; `PragmaticClient` plays against a
gateway's callback URL by sending the hashed form callbacks Pragmatic
sends, and implements the conformance kit's `ProviderClient`.
"""

from examples.pragmatic_simulator.api import (
    DEFAULT_GAMES,
    FreeRoundsBonus,
    LaunchedSession,
    PragmaticSimulator,
    SimulatedGame,
    create_app,
    run_simulator,
)
from examples.pragmatic_simulator.client import (
    PragmaticClient,
    launch_token,
    read_launch_token,
    read_status,
    user_id,
)
from examples.pragmatic_simulator.signing import pragmatic_hash, sign

__all__ = [
    "DEFAULT_GAMES",
    "FreeRoundsBonus",
    "LaunchedSession",
    "PragmaticClient",
    "PragmaticSimulator",
    "SimulatedGame",
    "create_app",
    "launch_token",
    "pragmatic_hash",
    "read_launch_token",
    "read_status",
    "run_simulator",
    "sign",
    "user_id",
]
