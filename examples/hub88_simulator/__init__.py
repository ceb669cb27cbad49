"""A simulated Hub88: its Operator API and the wallet callbacks it sends.

`run_simulator` (or `Hub88Simulator.serve`) starts the game URL, game list
and free-bet API on loopback with a key pair made at start; `Hub88Client`
sends the signed `/user/*` and `/transaction/*` callbacks Hub88 sends to an
operator, and implements the conformance kit's `ProviderClient`.
"""

from examples.hub88_simulator.client import Hub88Client, UnsignedAnswer, hub88_token
from examples.hub88_simulator.hub import (
    DEFAULT_GAMES,
    Hub88Simulator,
    LaunchedGame,
    SimulatedGame,
    SimulatorRun,
    create_app,
    run_simulator,
)
from examples.hub88_simulator.keys import KeyPair

__all__ = [
    "DEFAULT_GAMES",
    "Hub88Client",
    "Hub88Simulator",
    "KeyPair",
    "LaunchedGame",
    "SimulatedGame",
    "SimulatorRun",
    "UnsignedAnswer",
    "create_app",
    "hub88_token",
    "run_simulator",
]
