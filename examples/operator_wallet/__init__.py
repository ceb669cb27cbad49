"""A reference operator wallet: the casino's side of the operator wallet contract.

The contract is `docs/operator-wallet.openapi.yaml`. This wallet keeps its
balances and transactions in one SQLite file and imports nothing from
gamegate, so a casino can copy it as the start of its own. Besides the
contract it answers two signed admin calls for demos and tests:
`POST /admin/players` `{operator, player, currency, balance, blocked?}`
creates or overwrites an account, and `POST /admin/faults`
`{delay_seconds, fail_next}` delays every answer or fails the next calls
with 500.
"""

from examples.operator_wallet.app import (
    WALLET,
    Faults,
    Wallet,
    create_app,
    run_wallet,
    serve,
    sign,
)
from examples.operator_wallet.store import Store

__all__ = [
    "WALLET",
    "Faults",
    "Store",
    "Wallet",
    "create_app",
    "run_wallet",
    "serve",
    "sign",
]
