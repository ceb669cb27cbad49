"""The simulated studio from the shell: `python -m examples.softswiss_simulator`.

`serve` runs the studio's launch API; `play` plays rounds against a gateway's
callback URL. The auth token comes from `--auth-token` or the
`SOFTSWISS_AUTH_TOKEN` environment variable.
"""

from __future__ import annotations

import asyncio

import click
from aiohttp import web

from examples.softswiss_simulator.client import StudioClient
from examples.softswiss_simulator.studio import Fault, Studio, create_app

TOKEN = click.option(
    "--auth-token",
    envvar="SOFTSWISS_AUTH_TOKEN",
    required=True,
    help="The casino's auth token shared with the studio.",
)


@click.group()
def main() -> None:
    """A simulated SoftSwiss-protocol studio."""


@main.command()
@TOKEN
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=9100, show_default=True)
@click.option("--casino-id", default=None, help="Refuse launches for other casinos.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--fault",
    help="Misbehave on every launch: hang, reset, slow:SECONDS, a status such"
    " as 500, or 429:RETRY_AFTER.",
)
def serve(
    auth_token: str,
    host: str,
    port: int,
    casino_id: str | None,
    seed: int,
    fault: str | None,
) -> None:
    """Serve the studio's launch API until interrupted."""
    studio = Studio(auth_token, casino_id=casino_id, seed=seed)
    if fault is not None:
        studio.inject(parse_fault(fault), times=None)
    web.run_app(create_app(studio), host=host, port=port)


def parse_fault(text: str) -> Fault:
    """Read a `--fault` value: hang, reset, slow:SECONDS, STATUS[:RETRY_AFTER]."""
    kind, _, value = text.partition(":")
    try:
        if kind in ("hang", "reset") and not value:
            return Fault.hang() if kind == "hang" else Fault.reset()
        if kind == "slow":
            return Fault.slow(float(value))
        return Fault.error(int(kind), retry_after=int(value) if value else None)
    except ValueError:
        raise click.BadParameter(
            f"unknown fault {text!r}", param_hint="--fault"
        ) from None


@main.command()
@TOKEN
@click.option("--callback-url", required=True, help="The gateway's callback base URL.")
@click.option("--user", required=True, help="The player reference given at launch.")
@click.option("--currency", default="EUR", show_default=True)
@click.option("--rounds", type=int, default=5, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
def play(
    auth_token: str, callback_url: str, user: str, currency: str, rounds: int, seed: int
) -> None:
    """Play rounds against a gateway and print each round's outcome."""
    asyncio.run(_play(auth_token, callback_url, user, currency, rounds, seed))


async def _play(
    auth_token: str, callback_url: str, user: str, currency: str, rounds: int, seed: int
) -> None:
    async with StudioClient(callback_url, auth_token, seed=seed) as studio:
        for _ in range(rounds):
            record = await studio.play_round(user, currency)
            verdict = "refused, rolled back" if record.refused else f"win {record.win}"
            click.echo(
                f"round {record.round_id}: bet {record.bet} {verdict},"
                f" balance {record.balance_after}"
            )


if __name__ == "__main__":
    main()
