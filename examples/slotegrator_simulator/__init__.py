"""A simulated Slotegrator aggregator: its merchant API and its wallet callbacks.

`run_simulator` (or `Aggregator.serve`) starts the aggregator's API (games
init, demo init, the game list) on loopback; `SlotegratorClient` sends the
signed, form-encoded wallet callbacks the aggregator sends to a merchant.
"""

from examples.slotegrator_simulator.aggregator import (
    DEFAULT_GAMES,
    Aggregator,
    AggregatorGame,
    LaunchedSession,
    create_app,
    run_simulator,
)
from examples.slotegrator_simulator.client import (
    RolledBack,
    SlotegratorClient,
    read_status,
)
from examples.slotegrator_simulator.signing import (
    http_build_query,
    ksort,
    parse_str,
    signature,
    urlencode,
)

__all__ = [
    "DEFAULT_GAMES",
    "Aggregator",
    "AggregatorGame",
    "LaunchedSession",
    "RolledBack",
    "SlotegratorClient",
    "create_app",
    "http_build_query",
    "ksort",
    "parse_str",
    "read_status",
    "run_simulator",
    "signature",
    "urlencode",
]
