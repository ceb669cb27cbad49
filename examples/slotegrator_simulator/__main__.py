"""The simulated aggregator from the shell: `python -m examples.slotegrator_simulator`.

`serve` runs the aggregator's merchant API (games init, demo init, the game
list). The merchant key comes from `--merchant-key` or the
`SLOTEGRATOR_MERCHANT_KEY` environment variable.
"""

from __future__ import annotations

import click
from aiohttp import web

from examples.slotegrator_simulator.aggregator import Aggregator, create_app


@click.group()
def main() -> None:
    """A simulated Slotegrator aggregator."""


@main.command()
@click.option("--merchant-id", envvar="SLOTEGRATOR_MERCHANT_ID", required=True)
@click.option(
    "--merchant-key",
    envvar="SLOTEGRATOR_MERCHANT_KEY",
    required=True,
    help="The merchant key shared with the gateway.",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=9200, show_default=True)
@click.option("--per-page", type=int, default=50, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
def serve(
    merchant_id: str, merchant_key: str, host: str, port: int, per_page: int, seed: int
) -> None:
    """Serve the aggregator's merchant API until interrupted."""
    aggregator = Aggregator(merchant_id, merchant_key, per_page=per_page, seed=seed)
    web.run_app(create_app(aggregator), host=host, port=port)


if __name__ == "__main__":
    main()
