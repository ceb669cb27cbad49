"""The simulated studio from the shell: `python -m examples.evolution_simulator`.

`serve` runs Evolution's User Authentication and Lobby APIs. The credentials
come from options or the `EVOLUTION_CASINO_KEY`, `EVOLUTION_API_TOKEN` and
`EVOLUTION_LOBBY_TOKEN` environment variables.
"""

from __future__ import annotations

import click
from aiohttp import web

from examples.evolution_simulator.studio import Studio, create_app


@click.group()
def main() -> None:
    """A simulated Evolution live casino."""


@main.command()
@click.option("--casino-key", envvar="EVOLUTION_CASINO_KEY", required=True)
@click.option(
    "--api-token",
    envvar="EVOLUTION_API_TOKEN",
    required=True,
    help="The User Authentication API token the casino was given.",
)
@click.option(
    "--lobby-token",
    envvar="EVOLUTION_LOBBY_TOKEN",
    default=None,
    help="The Lobby API token; without it the lobby refuses every call.",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=9200, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
def serve(
    casino_key: str,
    api_token: str,
    lobby_token: str | None,
    host: str,
    port: int,
    seed: int,
) -> None:
    """Serve the studio's APIs until interrupted."""
    studio = Studio(casino_key, api_token, lobby_token=lobby_token, seed=seed)
    web.run_app(create_app(studio), host=host, port=port)


if __name__ == "__main__":
    main()
