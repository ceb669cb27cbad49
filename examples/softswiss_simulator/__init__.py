"""A simulated SoftSwiss-protocol studio: its launch API and its wallet calls.

`run_simulator` (or `Studio.serve`) starts the studio's launch API on
loopback; `StudioClient` plays rounds against a gateway's callback URL by
sending the signed `/play` and `/rollback` callbacks the studio sends.
"""

from examples.softswiss_simulator.client import RoundRecord, StudioAnswer, StudioClient
from examples.softswiss_simulator.studio import (
    DEFAULT_GAMES,
    Fault,
    LaunchedSession,
    Studio,
    StudioGame,
    create_app,
    run_simulator,
)

__all__ = [
    "DEFAULT_GAMES",
    "Fault",
    "LaunchedSession",
    "RoundRecord",
    "Studio",
    "StudioAnswer",
    "StudioClient",
    "StudioGame",
    "create_app",
    "run_simulator",
]
