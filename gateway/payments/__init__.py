"""Deposits and payouts through swappable payment providers.

- `config`: the `payments:` section (routes, the casino's webhook, outbox).
- `store`: the tables, and the one place a payment changes state.
- `funds`: the built-in wallet's side of a payment, through the ledger.
- `routing`: which provider instance takes a new payment, and the fallback.
- `outbox`: the casino's signed notifications, retried until delivered.
- `service`: the flows (create, refund, refresh, webhook intake).
- `api`: the operator API routes and the provider webhook handler.

This package's `__init__` imports nothing, so `gateway.config` can read
`gateway.payments.config` without pulling in the rest.
"""
