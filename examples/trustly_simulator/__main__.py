"""The simulated Trustly from the shell: `python -m examples.trustly_simulator serve`.

`serve` makes a fresh key pair, prints Trustly's public key (the merchant's
`trustly_public_key`) and the API URL, and answers calls until interrupted.
The merchant's public key, which verifies its calls, is read from a PEM file.
"""

from __future__ import annotations

import os
from pathlib import Path

import click
from aiohttp import web

from examples.trustly_simulator.api import API_PATH, TrustlySimulator, create_app


@click.group()
def main() -> None:
    """A simulated Trustly JSON-RPC API."""


@main.command()
@click.option(
    "--merchant-public-key",
    "merchant_key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="PEM file of the merchant's public key.",
)
@click.option("--username", default="merchant", show_default=True)
@click.option(
    "--password",
    envvar="TRUSTLY_SIMULATOR_PASSWORD",
    default="merchant-password",
    show_default=True,
    help="The API password; also read from TRUSTLY_SIMULATOR_PASSWORD.",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=9190, show_default=True)
@click.option(
    "--private-key-out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the new private key here (mode 0600) to sign notifications with.",
)
def serve(
    merchant_key: Path,
    username: str,
    password: str,
    host: str,
    port: int,
    private_key_out: Path | None,
) -> None:
    """Serve the simulated API until interrupted."""
    simulator = TrustlySimulator(
        merchant_key.read_text(), username=username, password=password
    )
    shown = f"[{host}]" if ":" in host else host
    simulator.base_url = f"http://{shown}:{port}"
    if private_key_out is not None:
        descriptor = os.open(
            private_key_out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600
        )
        with os.fdopen(descriptor, "w") as file:
            file.write(simulator.keys.private_pem)

    click.echo(f"Trustly API (the merchant's api_url): {simulator.base_url}{API_PATH}")
    click.echo("Trustly public key (the merchant's trustly_public_key):")
    click.echo(simulator.public_pem)
    web.run_app(create_app(simulator), host=host, port=port)


if __name__ == "__main__":
    main()
