"""A simulated Trustly: its JSON-RPC API and the notifications it sends.

`run_simulator` (or `TrustlySimulator.serve`) starts the API on loopback
with a key pair made at start; `TrustlySimulator.notification` makes signed
notifications about its orders and `notify` sends them to the merchant's
NotificationURL and verifies the signed replies.
"""

from examples.trustly_simulator.api import (
    API_PATH,
    Fault,
    ReceivedCall,
    SimulatedOrder,
    SimulatorRun,
    TrustlySimulator,
    create_app,
    run_simulator,
)
from examples.trustly_simulator.keys import KeyPair
from examples.trustly_simulator.notifications import Notification, Reply

__all__ = [
    "API_PATH",
    "Fault",
    "KeyPair",
    "Notification",
    "ReceivedCall",
    "Reply",
    "SimulatedOrder",
    "SimulatorRun",
    "TrustlySimulator",
    "create_app",
    "run_simulator",
]
