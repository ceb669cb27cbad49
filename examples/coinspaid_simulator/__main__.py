"""The simulated CoinsPaid from the shell: `python -m examples.coinspaid_simulator`.

`serve` answers the merchant API until interrupted, and with `--webhook-url`
and `--settle-after` confirms every withdrawal by callback. `deposit` plays
a player paying into their address: it sends the deposit's signed callbacks
to a gateway's callback URL and prints each answer. The key pair comes from
`--public-key` and `--secret`, or `COINSPAID_PUBLIC_KEY` and
`COINSPAID_SECRET`.
"""

from __future__ import annotations

import asyncio

import click
from aiohttp import web

from examples.coinspaid_simulator.api import create_app
from examples.coinspaid_simulator.processing import Processing

PUBLIC_KEY = click.option(
    "--public-key",
    envvar="COINSPAID_PUBLIC_KEY",
    required=True,
    help="The merchant's public key (X-Processing-Key).",
)
SECRET = click.option(
    "--secret",
    envvar="COINSPAID_SECRET",
    required=True,
    help="The merchant's secret key, which keys every signature.",
)


@click.group()
def main() -> None:
    """A simulated CoinsPaid merchant API and its callbacks."""


@main.command()
@PUBLIC_KEY
@SECRET
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=9300, show_default=True)
@click.option("--webhook-url", default=None, help="Where callbacks are posted.")
@click.option(
    "--settle-after",
    type=float,
    default=None,
    help="Confirm each withdrawal by callback this many seconds later.",
)
@click.option("--seed", type=int, default=0, show_default=True)
def serve(
    public_key: str,
    secret: str,
    host: str,
    port: int,
    webhook_url: str | None,
    settle_after: float | None,
    seed: int,
) -> None:
    """Serve the merchant API under /api until interrupted."""
    processing = Processing(
        public_key,
        secret,
        webhook_url=webhook_url,
        settle_after=settle_after,
        seed=seed,
    )
    click.echo(f"api_url: http://{host}:{port}/api")
    web.run_app(create_app(processing), host=host, port=port)


@main.command()
@PUBLIC_KEY
@SECRET
@click.option("--webhook-url", required=True, help="The gateway's callback URL.")
@click.option("--player", required=True, help="The address's foreign_id.")
@click.option("--currency", default="BTC", show_default=True)
@click.option("--amount", default="0.01000000", show_default=True)
@click.option(
    "--status",
    "statuses",
    multiple=True,
    default=("not_confirmed", "confirmed"),
    show_default=True,
    help="One callback per status, in this order.",
)
@click.option("--numbers", is_flag=True, help="Send amounts as JSON numbers.")
@click.option("--seed", type=int, default=0, show_default=True)
def deposit(
    public_key: str,
    secret: str,
    webhook_url: str,
    player: str,
    currency: str,
    amount: str,
    statuses: tuple[str, ...],
    numbers: bool,
    seed: int,
) -> None:
    """Send one deposit's callbacks to a gateway and print each answer."""
    processing = Processing(public_key, secret, webhook_url=webhook_url, seed=seed)
    deliveries = asyncio.run(
        processing.deposit(
            player, currency, amount, statuses=statuses, amounts_as_numbers=numbers
        )
    )
    for status, delivery in zip(statuses, deliveries, strict=True):
        click.echo(f"{status}: HTTP {delivery.status} {delivery.answer[:80]!r}")


if __name__ == "__main__":
    main()
