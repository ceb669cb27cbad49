"""The reference wallet from the shell: `python -m examples.operator_wallet serve`.

The shared secret comes from `--secret` or the `OPERATOR_WALLET_SECRET`
environment variable; the environment keeps it out of the process list.
"""

from __future__ import annotations

import click
from aiohttp import web

from examples.operator_wallet.app import create_app


@click.group()
def main() -> None:
    """A reference operator wallet for gamegate."""


@main.command()
@click.option(
    "--secret",
    envvar="OPERATOR_WALLET_SECRET",
    required=True,
    help="The secret shared with the gateway.",
)
@click.option(
    "--db", "db_path", default="wallet.db", show_default=True, help="The SQLite file."
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=9200, show_default=True)
def serve(secret: str, db_path: str, host: str, port: int) -> None:
    """Serve the wallet until interrupted."""
    web.run_app(create_app(secret, db_path), host=host, port=port)


if __name__ == "__main__":
    main()
