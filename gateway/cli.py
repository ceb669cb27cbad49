"""The `gamegate` command: serve, migrate, list adapters, run the demo."""

from __future__ import annotations

import asyncio
import gc
import json
import sys
from datetime import timedelta
from pathlib import Path

import click
from aiohttp import web

from contracts.errors import ConfigError
from contracts.payments import PaymentCapabilities
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


def _load(config_path: Path, quiet: bool = False) -> tuple[Config, AdapterRegistry]:
    # A command whose standard output is its answer logs warnings only, and
    # to standard error.
    try:
        preamble = read_preamble(config_path)
        if quiet:
            configure_logging(preamble.logging.format, "warning", stream=sys.stderr)
        else:
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
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Processes serving the port; more than one needs PostgreSQL.",
)
@click.option("--worker", "is_worker", is_flag=True, hidden=True)
def serve(
    config_path: Path,
    host: str | None,
    port: int | None,
    workers: int,
    is_worker: bool,
) -> None:
    """Run the gateway until interrupted."""
    from gateway.app import build_app
    from gateway.workers import check_workers, run_workers, stop_with_parent

    config, registry = _load(config_path)
    host = host or config.listen.host
    port = config.listen.port if port is None else port
    if workers > 1:
        try:
            check_workers(config, workers)
            sys.exit(
                run_workers(config_path, config, host=host, port=port, workers=workers)
            )
        except ConfigError as error:
            click.echo(f"gamegate: invalid config: {error.message}", err=True)
            sys.exit(2)
    app = build_app(config, registry, config_path=config_path, sighup=True)
    if is_worker:
        stop_with_parent(app)
    # What is built by now lives as long as the process. Frozen, it is left
    # out of the collector's full passes, which otherwise stall the event
    # loop for tens of milliseconds now and then.
    gc.freeze()
    web.run_app(
        app,
        host=host,
        port=port,
        access_log=None,
        print=None,
        reuse_port=is_worker or None,
    )


@main.group(name="db")
def database() -> None:
    """Manage the gateway's database."""


@database.command()
@CONFIG
def upgrade(config_path: Path) -> None:
    """Apply every pending migration to the configured database."""
    config, _ = _load(config_path, quiet=True)
    applied = db.upgrade(config.database)
    click.echo(f"applied {len(applied)} migration(s)" if applied else "up to date")


@database.command()
@CONFIG
def prune(config_path: Path) -> None:
    """Delete settled ledger history older than `retention.days`."""
    config, _ = _load(config_path, quiet=True)
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
    config, _ = _load(config_path, quiet=True)
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


@main.group()
def routes() -> None:
    """Inspect the routing table."""


@routes.command()
@CONFIG
@click.option("--game", required=True, help="The game id to launch.")
@click.option("--country", help="The player's country, ISO 3166 alpha-2.")
@click.option("--currency", help="The session's currency.")
@click.option("--operator", help="The operator (casino) launching.")
@click.option("--brand", help="The operator's brand.")
@click.option("--jurisdiction", help="The licence jurisdiction.")
@click.option("--device", type=click.Choice(["desktop", "mobile"]), default="desktop")
@click.option("--mode", type=click.Choice(["real", "demo"]), default="real")
@click.option("--player", help="The player id; decides the side of a split.")
@click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON.")
def explain(
    config_path: Path,
    as_json: bool,
    **request: str | None,
) -> None:
    """Say which instance would serve a launch, and why.

    Health is not known outside the running gateway, so every instance is
    taken as healthy; `GET /admin/routes/explain` answers with live health.
    """
    from gateway.routing import RouteQuery, Router
    from gateway.routing import explain as explained

    config, _ = _load(config_path, quiet=True)
    query = RouteQuery(game=str(request.pop("game")), **request)
    document = explained(Router(config.routes, config.games).route(query))
    if as_json:
        click.echo(json.dumps(document, indent=2))
    else:
        click.echo("\n".join(document["lines"]))
    sys.exit(0 if document["serves"] is not None or document["rule"] else 1)


@main.command()
def adapters() -> None:
    """List the installed adapters, their versions and capabilities."""
    configure_logging("console", "warning", stream=sys.stderr)
    try:
        registry = load_adapters()
    except ConfigError as error:
        click.echo(f"gamegate: {error.message}", err=True)
        sys.exit(2)

    for loaded in registry:
        capabilities = loaded.cls.capabilities
        currencies = capabilities.currencies
        click.echo(
            f"{loaded.name} {loaded.version}"
            f" (contract {loaded.cls.contract_version}, {loaded.cls.kind})"
        )
        click.echo(f"  from        {loaded.distribution or loaded.plugin}")
        click.echo(f"  file        {loaded.origin}")
        operations = ", ".join(sorted(op.value for op in capabilities.operations))
        click.echo(f"  operations  {operations}")
        click.echo(f"  currencies  {', '.join(sorted(currencies or ['any']))}")
        click.echo(f"  signature   {capabilities.signature}")
        click.echo(f"  money       {capabilities.money_format}")
        if isinstance(capabilities, PaymentCapabilities):
            methods = ", ".join(sorted(method.value for method in capabilities.methods))
            click.echo(f"  methods     {methods}")
            continue
        click.echo(
            f"  demo        {'yes' if capabilities.demo else 'no'},"
            f" free rounds {'yes' if capabilities.free_rounds else 'no'}"
        )


@main.command()
@click.option(
    "--rounds",
    type=click.IntRange(min=3),
    default=20,
    show_default=True,
    help="Rounds to play; at least 3, so a retransmission and a refusal happen.",
)
@click.option("--seed", default=7, show_default=True, help="Seed of the studio's RNG.")
@click.option(
    "--wallet",
    type=click.Choice(["builtin", "operator"]),
    default="builtin",
    show_default=True,
    help="Keep balances in the gateway, or in the reference casino wallet.",
)
@click.option(
    "--payments",
    is_flag=True,
    help="Deposit through two fake payment providers (one falls back), play,"
    " pay out, and print each payment's state history. Built-in wallet only.",
)
def demo(rounds: int, seed: int, wallet: str, payments: bool) -> None:
    """Play real rounds through the gateway against the studio simulator."""
    if payments:
        from gateway.payments_demo import run_payments_demo

        if wallet != "builtin":
            click.echo("gamegate: --payments runs with the built-in wallet", err=True)
            sys.exit(2)
        sys.exit(run_payments_demo(rounds=rounds, seed=seed))

    from gateway.demo import run_demo

    sys.exit(run_demo(rounds=rounds, seed=seed, wallet=wallet))


@main.command()
@click.option("--quick", is_flag=True, help="Short runs, under a minute, for CI.")
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("bench-results"),
    show_default=True,
    help="Where report.md and latency.png go.",
)
@click.option(
    "--postgres",
    default="postgresql://postgres@127.0.0.1:5432/test",
    show_default=True,
    help="The server for the one-to-two worker comparison.",
)
@click.option("--no-postgres", is_flag=True, help="Skip the worker comparison.")
@click.option(
    "--soak", type=int, default=0, help="Also send this many callbacks, watching RSS."
)
@click.option(
    "--nice",
    type=click.IntRange(-20, 19),
    default=0,
    help="Niceness of every process it starts; below 0 (root only), other"
    " programs on the machine disturb the numbers less.",
)
def bench(
    quick: bool, out: Path, postgres: str, no_postgres: bool, soak: int, nice: int
) -> None:
    """Measure the gateway under load against this machine's own ceiling."""
    from gateway.bench import BenchError, Options, report, run_bench

    options = Options(
        out=out,
        quick=quick,
        postgres=None if no_postgres else postgres,
        soak=soak,
        nice=nice,
    )
    try:
        result = run_bench(options, echo=click.echo)
    except BenchError as error:
        click.echo(f"gamegate bench: {error}", err=True)
        sys.exit(2)
    click.echo(
        report.markdown_table(
            report.table_rows(result.results, result.ceiling, result.ceiling_cpu)
        )
    )
    if result.scaling:
        click.echo(report.markdown_table(report.table_rows(result.scaling, None)))
    for note in result.notes:
        click.echo(f"- {note}")
    click.echo(f"report: {out / 'report.md'}")
