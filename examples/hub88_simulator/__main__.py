"""The simulated Hub88 from the shell: `python -m examples.hub88_simulator serve`.

`serve` makes a fresh key pair, prints Hub88's public key (the operator's
`hub88_public_key`) and answers the Operator API until interrupted. The
operator's public key, which verifies its requests, is read from a PEM file.
"""

from __future__ import annotations

import os
from pathlib import Path

import click
from aiohttp import web

from examples.hub88_simulator.hub import Hub88Simulator, create_app


@click.group()
def main() -> None:
    """A simulated Hub88 Operator API."""


@main.command()
@click.option(
    "--operator-public-key",
    "operator_key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="PEM file of the operator's public key.",
)
@click.option("--operator-id", type=int, default=None, help="Serve only this id.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=9188, show_default=True)
@click.option(
    "--private-key-out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the new private key here (mode 0600) for a client to sign with.",
)
def serve(
    operator_key: Path,
    operator_id: int | None,
    host: str,
    port: int,
    private_key_out: Path | None,
) -> None:
    """Serve the simulated Operator API until interrupted."""
    simulator = Hub88Simulator(operator_key.read_text(), operator_id=operator_id)
    if private_key_out is not None:
        descriptor = os.open(
            private_key_out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600
        )
        with os.fdopen(descriptor, "w") as file:
            file.write(simulator.keys.private_pem)

    click.echo("Hub88 public key (the operator's hub88_public_key):")
    click.echo(simulator.public_pem)
    web.run_app(create_app(simulator), host=host, port=port)


if __name__ == "__main__":
    main()
