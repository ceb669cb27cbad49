"""A simulated CoinsPaid: its merchant API and the callbacks it sends.

`run_simulator` (or `serve(Processing(...))`) answers `addresses/take` and
`withdrawal/crypto` on loopback, verifying every signature; `Processing`
then sends signed deposit and withdrawal callbacks to a webhook URL, in
order or not, repeated or forged, with amounts as strings or JSON numbers.
"""

from examples.coinspaid_simulator.api import create_app, run_simulator, serve
from examples.coinspaid_simulator.callbacks import (
    CallbackClient,
    Delivery,
    deposit_callback,
    encode,
    withdrawal_callback,
)
from examples.coinspaid_simulator.processing import (
    DepositAddress,
    Fault,
    Processing,
    Withdrawal,
)

__all__ = [
    "CallbackClient",
    "Delivery",
    "DepositAddress",
    "Fault",
    "Processing",
    "Withdrawal",
    "create_app",
    "deposit_callback",
    "encode",
    "run_simulator",
    "serve",
    "withdrawal_callback",
]
