"""`gamegate demo`: real rounds over loopback HTTP, then a check of the ledger.

The demo starts the gateway on the embedded default (a SQLite file in a
temporary folder, the built-in wallet), funds a demo player through the
operator API, starts the studio simulator, launches a game through
`POST /v1/sessions` and lets the studio play rounds with signed callbacks,
including a retransmitted callback and a rollback after a refused bet. It
then checks that the ledger balances and exits non-zero if it does not.
"""

from __future__ import annotations

import asyncio
import secrets
import tempfile
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path

import httpx
import orjson
import yaml
from aiohttp import web
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from contracts.money import CurrencyTable, Money
from examples.operator_wallet import run_wallet
from examples.softswiss_simulator.client import DEFAULT_GAME, RoundRecord, StudioClient
from examples.softswiss_simulator.studio import run_simulator
from gateway.app import RUNTIME, build_app
from gateway.config import Config, parse_config
from gateway.ledger import player_ref
from gateway.logs import configure_logging
from gateway.operator_wallet import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from gateway.plugins import load_adapters

OPERATOR = "demo-casino"
PLAYER = "demo-player"
PROVIDER = "studio-direct"
HUB = "studio-via-hub"
HUB_TOKEN = "demo-aggregator-token"
CURRENCY = "EUR"
FUNDING = "50.00"


@dataclass
class Checks:
    """The demo's verdicts, each a sentence and whether it held."""

    results: list[tuple[str, bool]] = field(default_factory=list)

    def add(self, sentence: str, held: bool) -> None:
        """Record one check."""
        self.results.append((sentence, held))

    @property
    def passed(self) -> bool:
        """Whether every check held."""
        return all(held for _, held in self.results)


@dataclass(frozen=True)
class Setup:
    """What one demo run is wired to."""

    folder: Path
    studio_url: str
    auth_token: str
    api_key: str
    wallet_url: str | None = None
    wallet_secret: str = ""
    hub_url: str = ""
    admin_key: str = field(default_factory=lambda: secrets.token_urlsafe(24))

    @property
    def config_path(self) -> Path:
        """The config file the gateway runs on, edited to move the game."""
        return self.folder / "gamegate.yaml"


def run_demo(
    rounds: int = 20,
    seed: int = 7,
    console: Console | None = None,
    wallet: str = "builtin",
) -> int:
    """Play the demo and return the process exit code: 0 when the ledger balances.

    `wallet` is `builtin` (balances in the gateway's database) or `operator`
    (balances in the reference casino wallet, called over signed HTTP).
    """
    configure_logging("console", "warning")
    console = console or Console()

    return asyncio.run(_demo(rounds, seed, console, wallet))


async def _demo(rounds: int, seed: int, console: Console, wallet: str) -> int:
    auth_token = secrets.token_hex(16)
    with tempfile.TemporaryDirectory(prefix="gamegate-demo-") as folder:
        async with AsyncExitStack() as stack:
            studio_url = await stack.enter_async_context(
                run_simulator(auth_token, casino_id=OPERATOR, seed=seed)
            )
            hub_url = await stack.enter_async_context(
                run_simulator(HUB_TOKEN, casino_id=OPERATOR, seed=seed)
            )
            setup = Setup(
                Path(folder),
                studio_url,
                auth_token,
                secrets.token_urlsafe(24),
                hub_url=hub_url,
            )
            if wallet == "operator":
                secret = secrets.token_urlsafe(24)
                wallet_db = str(Path(folder) / "casino-wallet.db")
                wallet_url = await stack.enter_async_context(
                    run_wallet(secret, wallet_db)
                )
                setup = replace(setup, wallet_url=wallet_url, wallet_secret=secret)
            app = build_app(
                _config(setup, serving=PROVIDER),
                load_adapters(),
                config_path=setup.config_path,
                environ={},
            )
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            stack.push_async_callback(runner.cleanup)
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            gateway_url = _bound_url(runner)
            console.print(f"gateway on {gateway_url}, studio on {studio_url}")
            if setup.wallet_url:
                console.print(f"the casino's wallet on {setup.wallet_url}")
            checks = await _play(app, gateway_url, setup, rounds, seed, console)
            await _switch(gateway_url, setup, checks, console)

    for sentence, held in checks.results:
        console.print(
            f"[{'green' if held else 'red'}]{'ok  ' if held else 'FAIL'}[/] {sentence}"
        )
    return 0 if checks.passed else 1


def _config(setup: Setup, serving: str) -> Config:
    """Write the demo's config with the game routed to `serving`, and load it."""
    data: dict[str, object] = {
        "database": f"sqlite:///{setup.folder / 'gamegate.db'}",
        "admin": {"api_keys": [setup.admin_key]},
        "operators": [{"name": OPERATOR, "api_keys": [setup.api_key]}],
        "providers": {
            PROVIDER: {
                "adapter": "softswiss",
                "base_url": setup.studio_url,
                "auth_token": setup.auth_token,
                "casino_id": OPERATOR,
            },
            HUB: {
                "adapter": "softswiss",
                "base_url": setup.hub_url,
                "auth_token": HUB_TOKEN,
                "casino_id": OPERATOR,
            },
        },
        "routes": {"games": [{"match": {"game": "example-studio:*"}, "use": serving}]},
    }
    if setup.wallet_url:
        data["wallet"] = {
            "mode": "operator",
            "url": setup.wallet_url,
            "secret": setup.wallet_secret,
        }
    setup.config_path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return parse_config(data, load_adapters(), {})


async def _switch(
    gateway_url: str, setup: Setup, checks: Checks, console: Console
) -> None:
    """Move the game to the aggregator by editing the config, mid-round."""
    user_id = player_ref(OPERATOR, PLAYER)
    operator = {"Authorization": f"Bearer {setup.api_key}"}
    async with (
        httpx.AsyncClient(base_url=gateway_url, headers=operator) as casino,
        StudioClient(f"{gateway_url}/providers/{PROVIDER}/", setup.auth_token) as old,
        StudioClient(f"{gateway_url}/providers/{HUB}/", HUB_TOKEN) as hub,
    ):
        before = await _balance(casino)
        bet = await old.bet(user_id, CURRENCY, 100, round_id="demo-switch-round")
        _config(setup, serving=HUB)
        reloaded = await casino.post(
            "/admin/reload", headers={"Authorization": f"Bearer {setup.admin_key}"}
        )
        launch = await casino.post(
            "/v1/sessions",
            json={"player": PLAYER, "game": DEFAULT_GAME, "currency": CURRENCY},
        )
        win = await old.win(user_id, CURRENCY, 250, round_id="demo-switch-round")
        there = await hub.play_round(user_id, CURRENCY, bet=50, win=100)
        after = await _balance(casino)

    served = launch.json().get("provider") if launch.status_code == 201 else None
    console.print(
        f"config edited and reloaded: {DEFAULT_GAME} now launches on {served}"
    )
    checks.add(
        f"after the config edit the game launched on {HUB}",
        reloaded.status_code == 200 and served == HUB,
    )
    checks.add(
        f"the round opened before the edit settled on {PROVIDER}", bet.ok and win.ok
    )
    checks.add(
        "the switch moved money exactly: -1.00 +2.50 -0.50 +1.00",
        not there.refused and before is not None and after == before + 200,
    )


async def _balance(casino: httpx.AsyncClient) -> int | None:
    answer = await casino.get(
        f"/v1/players/{PLAYER}/balance", params={"currency": CURRENCY}
    )
    if answer.status_code != 200:
        return None
    return CurrencyTable().parse(answer.json()["balance"], CURRENCY).minor


def _bound_url(runner: web.AppRunner) -> str:
    for address in runner.addresses:
        host, port = address[0], address[1]
        return f"http://{host}:{port}"
    raise RuntimeError("the gateway is not listening")


async def _fund(casino: httpx.AsyncClient, setup: Setup, minor: int) -> bool:
    if setup.wallet_url is None:
        funding = await casino.post(
            "/v1/wallet/transfers",
            json={
                "player": PLAYER,
                "currency": CURRENCY,
                "amount": FUNDING,
                "direction": "credit",
                "reference": "demo-funding-1",
            },
        )
        return funding.status_code == 200

    body = orjson.dumps(
        {"operator": OPERATOR, "player": PLAYER, "currency": CURRENCY, "balance": minor}
    )
    timestamp = str(int(time.time()))
    answer = await casino.post(
        f"{setup.wallet_url}/admin/players",
        content=body,
        headers={
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(setup.wallet_secret, timestamp, body),
            "Content-Type": "application/json",
        },
    )
    return answer.status_code == 200


async def _play(
    app: web.Application,
    gateway_url: str,
    setup: Setup,
    rounds: int,
    seed: int,
    console: Console,
) -> Checks:
    checks = Checks()
    headers = {"Authorization": f"Bearer {setup.api_key}"}
    start = app[RUNTIME].currencies.parse(FUNDING, CURRENCY).minor
    where = "the casino's wallet" if setup.wallet_url else "the operator API"
    async with httpx.AsyncClient(base_url=gateway_url, headers=headers) as casino:
        funded = await _fund(casino, setup, start)
        checks.add(f"{where} funded the demo player", funded)
        launch = await casino.post(
            "/v1/sessions",
            json={"player": PLAYER, "game": DEFAULT_GAME, "currency": CURRENCY},
        )
        launched = launch.status_code == 201
        checks.add("POST /v1/sessions launched the game", launched)
        if not launched:
            console.print(launch.text)
            return checks
        console.print(f"launched {DEFAULT_GAME}: {launch.json()['url']}")

        callback_url = f"{gateway_url}/providers/{PROVIDER}/"
        async with StudioClient(callback_url, setup.auth_token, seed=seed) as studio:
            records, retransmitted = await _rounds(studio, rounds, console)
        final = await casino.get(
            f"/v1/players/{PLAYER}/balance", params={"currency": CURRENCY}
        )

    table = app[RUNTIME].currencies
    again = {action_id for action_id, _ in retransmitted}
    console.print(_round_table(records, again, table))
    await _check_ledger(app, checks, records, retransmitted, final.json()["balance"])

    return checks


async def _rounds(
    studio: StudioClient, rounds: int, console: Console
) -> tuple[list[RoundRecord], list[tuple[str, bool]]]:
    user_id = player_ref(OPERATOR, PLAYER)
    records: list[RoundRecord] = []
    retransmitted: list[tuple[str, bool]] = []
    # The retransmission (second round) and the refused bet never share a
    # round, so each shows on its own for any run of three rounds or more.
    refused_at = max(2, rounds // 2)
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("playing rounds", total=rounds)
        for number in range(rounds):
            balance = records[-1].balance_after if records else None
            oversized = number == refused_at and balance is not None
            bet = balance + 1 if oversized and balance is not None else None
            record = await studio.play_round(user_id, CURRENCY, bet=bet)
            records.append(record)
            if number == 1:
                retransmitted.append(await _retransmit(studio, record))
            progress.advance(task)

    return records, retransmitted


async def _retransmit(studio: StudioClient, record: RoundRecord) -> tuple[str, bool]:
    original = record.answers[0]
    again = await studio.retransmit(original)
    first = original.transaction(record.bet_action_id)
    second = again.transaction(record.bet_action_id)
    same = again.ok and first is not None and second is not None and first == second

    return record.bet_action_id, same


def _round_table(
    records: list[RoundRecord], retransmitted: set[str], currencies: CurrencyTable
) -> Table:
    table = Table("#", "round", "bet", "win", "balance after", "note")
    for number, record in enumerate(records, start=1):
        note = "bet refused, rolled back" if record.refused else ""
        if record.bet_action_id in retransmitted:
            note = "bet retransmitted, answered as a replay"
        table.add_row(
            str(number),
            record.round_id[-8:],
            _money(currencies, record.bet),
            _money(currencies, record.win) if record.win is not None else "-",
            _money(currencies, record.balance_after),
            note,
        )
    return table


def _money(currencies: CurrencyTable, minor: int | None) -> str:
    return "-" if minor is None else currencies.format(Money(minor, CURRENCY))


async def _check_ledger(
    app: web.Application,
    checks: Checks,
    records: list[RoundRecord],
    retransmitted: list[tuple[str, bool]],
    final_balance: str,
) -> None:
    runtime = app[RUNTIME]
    currencies = runtime.currencies
    start = currencies.parse(FUNDING, CURRENCY).minor
    rows = await runtime.db.all(
        "SELECT operation, state, amount, provider_transaction_id FROM transactions"
        " WHERE provider = ?",
        PROVIDER,
    )
    debits = sum(a for op, state, a, _ in rows if op == "debit" and state == "applied")
    credits = sum(a for op, _, a, _ in rows if op == "credit")
    final = currencies.parse(final_balance, CURRENCY).minor
    expected = start + credits - debits
    checks.add(
        f"start {_money(currencies, start)} + credits {_money(currencies, credits)}"
        f" - debits {_money(currencies, debits)} = final {_money(currencies, final)}",
        expected == final,
    )

    studio_tally = start + sum(
        (r.win or 0) - r.bet for r in records if not r.refused and r.answers[-1].ok
    )
    checks.add("the studio's own tally agrees with the gateway", studio_tally == final)
    answered = [a for r in records for a in r.answers]
    checks.add(
        f"every one of {len(answered)} callbacks was answered and signed",
        all(a.signed and (a.ok or a.code == 100) for a in answered),
    )
    checks.add(
        "a refused bet was rolled back", any(r.rollback_action_id for r in records)
    )
    checks.add(
        "the retransmitted callback was answered as the original, moving nothing",
        bool(retransmitted) and all(same for _, same in retransmitted),
    )
    accepted = _accepted_action_ids(records)
    recorded = [tx for op, _, _, tx in rows if op in ("debit", "credit", "rollback")]
    checks.add(
        f"no transaction applied twice: {len(recorded)} ledger rows,"
        f" {len(accepted)} accepted actions",
        sorted(recorded) == sorted(accepted),
    )


def _accepted_action_ids(records: list[RoundRecord]) -> list[str]:
    accepted: list[str] = []
    for record in records:
        if record.refused:
            ids = [record.rollback_action_id]
        else:
            ids = [record.bet_action_id, record.win_action_id]
        accepted.extend(action_id for action_id in ids if action_id)

    return accepted
