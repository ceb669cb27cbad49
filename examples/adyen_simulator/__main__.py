"""The simulated Adyen from the shell: `python -m examples.adyen_simulator`.

`serve` runs the Checkout and Payout APIs; `notify` posts one signed
notification to a webhook URL. Keys come from the options or from the
`ADYEN_API_KEY`, `ADYEN_REVIEW_API_KEY` and `ADYEN_HMAC_KEY` variables.
"""

from __future__ import annotations

import asyncio
from typing import Any

import click
from aiohttp import web

from examples.adyen_simulator.notifications import (
    Delivery,
    Notifier,
    notification_item,
)
from examples.adyen_simulator.provider import (
    DEFAULT_MERCHANT,
    AdyenSimulator,
    create_app,
)

HMAC_KEY = click.option(
    "--hmac-key",
    envvar="ADYEN_HMAC_KEY",
    required=True,
    help="The webhook's HMAC key, in hex.",
)
MERCHANT = click.option(
    "--merchant-account", default=DEFAULT_MERCHANT, show_default=True
)


@click.group()
def main() -> None:
    """A simulated Adyen Checkout and Payout API."""


@main.command()
@click.option("--api-key", envvar="ADYEN_API_KEY", required=True)
@click.option("--review-api-key", envvar="ADYEN_REVIEW_API_KEY", default=None)
@HMAC_KEY
@MERCHANT
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=9300, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--fail", type=int, default=None, help="Answer every call this status.")
def serve(
    api_key: str,
    review_api_key: str | None,
    hmac_key: str,
    merchant_account: str,
    host: str,
    port: int,
    seed: int,
    fail: int | None,
) -> None:
    """Serve the simulated APIs until interrupted."""
    simulator = AdyenSimulator(
        api_key,
        hmac_key,
        review_api_key=review_api_key,
        merchant_account=merchant_account,
        seed=seed,
    )
    if fail is not None:
        simulator.fail_next(fail, times=None)
    web.run_app(create_app(simulator), host=host, port=port)


@main.command()
@HMAC_KEY
@MERCHANT
@click.option("--webhook-url", required=True, help="Where the gateway takes them.")
@click.option("--reference", required=True, help="The payment's merchantReference.")
@click.option("--psp-reference", required=True)
@click.option("--value", type=int, required=True, help="Minor units, Adyen's.")
@click.option("--currency", default="EUR", show_default=True)
@click.option("--event-code", default="AUTHORISATION", show_default=True)
@click.option("--failure", is_flag=True, help="Send success false.")
def notify(
    hmac_key: str,
    merchant_account: str,
    webhook_url: str,
    reference: str,
    psp_reference: str,
    value: int,
    currency: str,
    event_code: str,
    failure: bool,
) -> None:
    """Post one signed notification and print the webhook's answer."""
    item = notification_item(
        hmac_key,
        event_code=event_code,
        psp_reference=psp_reference,
        merchant_account=merchant_account,
        merchant_reference=reference,
        amount={"value": value, "currency": currency},
        success=not failure,
    )
    delivery = asyncio.run(_notify(webhook_url, item))
    click.echo(f"HTTP {delivery.status}: {delivery.answer.decode(errors='replace')}")


async def _notify(url: str, item: dict[str, Any]) -> Delivery:
    notifier = Notifier()
    try:
        return await notifier.notify(url, item)
    finally:
        await notifier.aclose()


if __name__ == "__main__":
    main()
