"""The simulated Pragmatic Play in a shell: `python -m examples.pragmatic_simulator`.

`serve` runs the integration API (game URL, game list, free rounds); `play`
plays rounds against a gateway's callback URL. The secret key comes from
`--secret-key` or the `PRAGMATIC_SECRET_KEY` environment variable.
"""

from __future__ import annotations

import asyncio
import random

import click
from aiohttp import web

from contracts import Status
from examples.pragmatic_simulator.api import PREFIX, PragmaticSimulator, create_app
from examples.pragmatic_simulator.client import PragmaticClient

SECRET = click.option(
    "--secret-key",
    envvar="PRAGMATIC_SECRET_KEY",
    required=True,
    help="The casino's secret key shared with Pragmatic.",
)
BETS = (10, 20, 50, 100, 200)


@click.group()
def main() -> None:
    """A simulated Pragmatic Play."""


@main.command()
@SECRET
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=9200, show_default=True)
@click.option("--secure-login", default=None, help="Refuse calls for other logins.")
@click.option("--seed", type=int, default=0, show_default=True)
def serve(
    secret_key: str, host: str, port: int, secure_login: str | None, seed: int
) -> None:
    """Serve the integration API until interrupted; its base URL ends in the prefix."""
    simulator = PragmaticSimulator(secret_key, secure_login=secure_login, seed=seed)
    click.echo(f"base_url: http://{host}:{port}{PREFIX}")
    web.run_app(create_app(simulator), host=host, port=port)


@main.command()
@SECRET
@click.option("--callback-url", required=True, help="The gateway's callback base URL.")
@click.option("--player", required=True, help="The player reference given at launch.")
@click.option("--currency", default="EUR", show_default=True)
@click.option("--rounds", type=int, default=5, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
def play(
    secret_key: str,
    callback_url: str,
    player: str,
    currency: str,
    rounds: int,
    seed: int,
) -> None:
    """Play rounds (bet, result, endRound) and print each round's outcome."""
    asyncio.run(_play(secret_key, callback_url, player, currency, rounds, seed))


async def _play(
    secret_key: str,
    callback_url: str,
    player: str,
    currency: str,
    rounds: int,
    seed: int,
) -> None:
    draw = random.Random(seed)
    async with PragmaticClient(callback_url, secret_key, seed=seed) as client:
        for _ in range(rounds):
            round_id, bet = client.new_round(), draw.choice(BETS)
            placed = await client.debit(
                player=player,
                currency=currency,
                session_token="",
                amount=bet,
                transaction_id=client.new_reference(),
                round_id=round_id,
            )
            if placed.status is not Status.OK:
                click.echo(f"round {round_id}: bet {bet} refused, {placed.status}")
                continue
            win = bet * draw.choice((0, 0, 1, 2, 5))
            paid = await client.credit(
                player=player,
                currency=currency,
                session_token="",
                amount=win,
                transaction_id=client.new_reference(),
                round_id=round_id,
                debit_transaction_id=None,
            )
            click.echo(
                f"round {round_id}: bet {bet} win {win}, {paid.status},"
                f" balance {paid.balance}"
            )


if __name__ == "__main__":
    main()
