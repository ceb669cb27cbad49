"""A fake payment provider and its adapter, for the payments demo and tests.

`provider` is a small payment provider on loopback HTTP that keeps payments
in memory, can be told to decline, fail or hang, and sends signed webhooks;
`adapter` is the `fakepay` payment adapter that speaks to it. It stands in
for the real providers' simulators in `gamegate demo --payments` and in the
gateway's payment tests. It is not registered as an entry point: the demo
and the tests pass this module to `load_adapters(plugins=[...])`.
"""

from __future__ import annotations

from contracts import hookimpl
from contracts.hookspecs import Register
from examples.payments_fake.adapter import FakePayAdapter, FakePayConfig
from examples.payments_fake.provider import FakeProvider, run_provider

__all__ = [
    "FakePayAdapter",
    "FakePayConfig",
    "FakeProvider",
    "register_adapters",
    "run_provider",
]


@hookimpl
def register_adapters(register: Register) -> None:
    """Offer the `fakepay` payment adapter."""
    register(FakePayAdapter)
