"""The `gamegate` command: serve, migrate, list adapters, run the demo."""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta
from pathlib import Path

import click
from aiohttp import web

from contracts.errors import ConfigError
from gateway import db, retention
from gateway.config import Config, OperatorWalletConfig, load_config, read_preamble
from gateway.logs import configure_logging
from gateway.plugins import AdapterRegistry, load_adapters
from gateway.retention import Pruned
from gateway.settlement import Reconciled

CONFIG = click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="The gateway's YAML config file.",
)


def _load(config_path: Path) -> tuple[Config, AdapterRegistry]:
    try:
        preamble = read_preamble(config_path)
        configure_logging(preamble.logging.format, preamble.logging.level)
        registry = load_adapters(allow=preamble.plugins)
        config = load_config(config_path, registry)
    except ConfigError as error:
        click.echo(f"gamegate: invalid config: {error.message}", err=True)
        sys.exit(2)

    return config, registry


@click.group()
@click.version_option(package_name="gamegate")
def main() -> None:
    """gamegate: one normalized gateway in front of every game provider."""


@main.command()
@CONFIG
@click.option("--host", help="Override listen.host from the config.")
@click.option("--port", type=int, help="Override listen.port from the config.")
def serve(config_path: Path, host: str | None, port: int | None) -> None:
    """Run the gateway until interrupted."""
    from gateway.app import build_app

    config, registry = _load(config_path)
    app = build_app(config, registry)
    web.run_app(
        app,
        host=host or config.listen.host,
        port=config.listen.port if port is None else port,
        access_log=None,
        print=None,
    )


@main.group(name="db")
def database() -> None:
    """Manage the gateway's database."""


@database.command()
@CONFIG
def upgrade(config_path: Path) -> None:
    """Apply every pending migration to the configured database."""
    config, _ = _load(config_path)
    applied = db.upgrade(config.database)
    click.echo(f"applied {len(applied)} migration(s)" if applied else "up to date")


@database.command()
@CONFIG
def prune(config_path: Path) -> None:
    """Delete settled ledger history older than `retention.days`."""
    config, _ = _load(config_path)
    pruned = asyncio.run(_prune(config))
    click.echo(
        f"pruned {pruned.transactions} transaction(s), {pruned.rounds} round(s),"
        f" {pruned.sessions} session(s) older than {config.retention.days} days"
    )


async def _prune(config: Config) -> Pruned:
    database = db.Database(config.database)
    await database.open()
    try:
        return await retention.prune(database, config.retention.days)
    finally:
        await database.close()


@main.command()
@CONFIG
@click.option(
    "--older-than",
    type=float,
    default=60.0,
    show_default=True,
    help="Only rows pending for longer than this many seconds.",
)
def reconcile(config_path: Path, older_than: float) -> None:
    """Resolve operations whose answer from the casino's wallet never came."""
    config, _ = _load(config_path)
    if not isinstance(config.wallet, OperatorWalletConfig):
        click.echo("gamegate: reconcile needs wallet.mode: operator", err=True)
        sys.exit(2)
    done = asyncio.run(_reconcile(config, older_than))
    click.echo(
        f"applied {done.applied}, fenced {done.fenced},"
        f" still pending {done.still_pending}"
    )
    sys.exit(1 if done.still_pending else 0)


async def _reconcile(config: Config, older_than: float) -> Reconciled:
    from gateway.app import remote_wallet_for

    database = db.Database(config.database)
    await database.open()
    wallet = remote_wallet_for(config, database)
    assert wallet is not None  # checked by the caller
    await wallet.start()
    try:
        return await wallet.reconcile(timedelta(seconds=older_than))
    finally:
        await wallet.close()
        await database.close()


@main.command()
def adapters() -> None:
    """List the installed adapters, their versions and capabilities."""
    from rich.console import Console
    from rich.table import Table

    try:
        registry = load_adapters()
    except ConfigError as error:
        click.echo(f"gamegate: {error.message}", err=True)
        sys.exit(2)
    table = Table("adapter", "version", "contract", "operations", "signature", "from")
    for loaded in registry:
        capabilities = loaded.cls.capabilities
        table.add_row(
            loaded.name,
            loaded.version,
            loaded.cls.contract_version,
            ", ".join(sorted(op.value for op in capabilities.operations)),
            capabilities.signature,
            f"{loaded.distribution or loaded.plugin}: {loaded.origin}",
        )
    Console().print(table)


@main.command()
@click.option("--rounds", default=20, show_default=True, help="Rounds to play.")
@click.option("--seed", default=7, show_default=True, help="Seed of the studio's RNG.")
@click.option(
    "--wallet",
    type=click.Choice(["builtin", "operator"]),
    default="builtin",
    show_default=True,
    help="Keep balances in the gateway, or in the reference casino wallet.",
)
def demo(rounds: int, seed: int, wallet: str) -> None:
    """Play real rounds through the gateway against the studio simulator."""
    from gateway.demo import run_demo

    sys.exit(run_demo(rounds=rounds, seed=seed, wallet=wallet))
