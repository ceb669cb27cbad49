"""A simulated Adyen: Checkout sessions and payments, payouts, notifications.

`run_simulator` (or `AdyenSimulator.serve`) answers the Checkout API
(`/v71/...`) and the classic Payout API (`/pal/servlet/Payout/v68/...`) on
loopback; `AdyenSimulator.item` builds signed notification items about the
payments it holds, and its `notifier` posts them to a webhook URL in order,
out of order, repeated, forged or tampered with.
"""

from examples.adyen_simulator.notifications import (
    Delivery,
    Notifier,
    batch,
    notification_item,
    signature,
    signing_string,
)
from examples.adyen_simulator.provider import (
    DEFAULT_MERCHANT,
    AdyenSimulator,
    Call,
    SimulatedPayment,
    create_app,
    run_simulator,
)

__all__ = [
    "DEFAULT_MERCHANT",
    "AdyenSimulator",
    "Call",
    "Delivery",
    "Notifier",
    "SimulatedPayment",
    "batch",
    "create_app",
    "notification_item",
    "run_simulator",
    "signature",
    "signing_string",
]
