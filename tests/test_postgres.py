"""PostgreSQL shared by many connections and processes keeps every money rule.

Each test gets a fresh schema on the server named by `GAMEGATE_TEST_POSTGRES_DSN`
and is skipped without one. Two `Database` objects stand for two gateway
processes: each has its own pool, so only the server's row locks and
constraints keep them apart; one test runs two real `gamegate serve`
processes as well.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import yaml

from contracts.wallet import Operation, Profile, Status, WalletOperation
from contracts.wallet import WalletRequest as Request
from gateway.db import Database, PostgresDatabase, Transaction, upgrade
from gateway.ledger import Ledger, player_ref

PROVIDER = "studio-direct"
PROFILE = Profile()
API_KEY = "postgres-test-operator-key-0001"


def debit(transaction_id: str, amount: int) -> WalletOperation:
    """Return a debit operation."""
    return WalletOperation(
        operation=Operation.DEBIT, transaction_id=transaction_id, amount=amount
    )


def request(
    op: WalletOperation, player: str = "player-1", round_id: str = "r1"
) -> Request:
    """Return a wallet request of one operation for a player of casino-a."""
    return Request(
        player=player_ref("casino-a", player),
        currency="EUR",
        game="studio:game",
        round_id=round_id,
        operations=(op,),
    )


async def fund(ledger: Ledger, player: str, amount: int) -> None:
    """Credit a player through the operator API's path, opening the account."""
    await ledger.transfer(
        "casino-a",
        player,
        operation=Operation.CREDIT,
        amount=amount,
        currency="EUR",
        reference=f"funding-{player}",
    )


@pytest.fixture
def url(postgres_url: str) -> str:
    """A fresh, migrated PostgreSQL schema."""
    upgrade(postgres_url)
    return postgres_url


@asynccontextmanager
async def opened(database: Database) -> AsyncIterator[Database]:
    """Open a database for the block and close it afterwards."""
    await database.open()
    try:
        yield database
    finally:
        await database.close()


class HeldDatabase(PostgresDatabase):
    """A database whose transactions, once written, wait for a signal to commit."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.written = asyncio.Event()
        self.release = asyncio.Event()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """Run a transaction that commits only after `release` is set."""
        async with super().transaction() as tx:
            yield tx
            self.written.set()
            await self.release.wait()


async def test_debits_from_two_connections_never_overdraw(url: str) -> None:
    """Simultaneous debits on one player through two pools: only the affordable win."""
    async with opened(Database(url)) as first, opened(Database(url)) as second:
        ledgers = (Ledger(first), Ledger(second))
        await fund(ledgers[0], "player-1", 1000)

        outcomes = await asyncio.gather(
            *(
                ledgers[i % 2].apply(
                    PROVIDER, PROFILE, request(debit(f"b{i}", 300), round_id=f"r{i}")
                )
                for i in range(20)
            )
        )
        rows = await first.one(
            "SELECT count(*), coalesce(sum(amount), 0) FROM transactions"
            " WHERE provider = ?",
            PROVIDER,
        )

        assert sorted(o.status for o in outcomes).count(Status.OK) == 3
        assert {o.status for o in outcomes} == {Status.OK, Status.INSUFFICIENT_FUNDS}
        assert rows == (3, 900)
        assert await ledgers[1].balance("casino-a", "player-1", "EUR") == 100


async def test_same_new_transaction_id_at_once_is_applied_once_and_replayed_once(
    url: str,
) -> None:
    """One new transaction sent twice at once through two pools moves money once."""
    async with opened(Database(url)) as first, opened(Database(url)) as second:
        ledgers = (Ledger(first), Ledger(second))
        await fund(ledgers[0], "player-1", 1000)

        for number in range(10):
            same = request(debit(f"b{number}", 10), round_id=f"r{number}")
            outcomes = await asyncio.gather(
                *(ledger.apply(PROVIDER, PROFILE, same) for ledger in ledgers)
            )

            assert [o.status for o in outcomes] == [Status.OK, Status.OK]
            answers = sorted(o.operations[0].replay for o in outcomes)
            assert answers == [False, True]
            ids = {o.operations[0].gateway_transaction_id for o in outcomes}
            assert len(ids) == 1
        assert await ledgers[0].balance("casino-a", "player-1", "EUR") == 900


async def test_same_new_transaction_id_racing_on_the_unique_key_ends_as_mismatch(
    url: str,
) -> None:
    """A request that loses the insert race is judged again, not answered with 500."""
    waiting = f"{url}&application_name=race-loser"
    async with (
        opened(HeldDatabase(url)) as held,
        opened(Database(waiting)) as plain,
        opened(Database(url)) as observer,
    ):
        assert isinstance(held, HeldDatabase)
        await fund(Ledger(plain), "player-1", 1000)
        await fund(Ledger(plain), "player-2", 1000)

        winner = asyncio.create_task(
            Ledger(held).apply(PROVIDER, PROFILE, request(debit("b1", 100)))
        )
        await held.written.wait()
        loser = asyncio.create_task(
            Ledger(plain).apply(
                PROVIDER, PROFILE, request(debit("b1", 100), player="player-2")
            )
        )
        await wait_for_lock_wait(observer, "race-loser")
        held.release.set()
        won, lost = await asyncio.gather(winner, loser)

        assert won.status is Status.OK
        assert lost.status is Status.TRANSACTION_MISMATCH
        assert await Ledger(plain).balance("casino-a", "player-2", "EUR") == 1000


async def wait_for_lock_wait(observer: Database, application: str) -> None:
    """Return once the named connection waits on another transaction's lock."""
    for _ in range(500):
        row = await observer.one(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = ?"
            " AND wait_event_type = 'Lock'",
            application,
        )
        if row == (1,):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{application} never waited on a lock")


def free_port() -> int:
    """Return a TCP port free on loopback right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
def gateways(url: str, tmp_path: Path) -> Iterator[list[str]]:
    """Two `gamegate serve` processes sharing the schema; yield their base URLs."""
    processes: list[subprocess.Popen[bytes]] = []
    bases: list[str] = []
    try:
        for number in range(2):
            port = free_port()
            config = tmp_path / f"gateway-{number}.yaml"
            config.write_text(yaml.safe_dump(gateway_config(url, port)))
            processes.append(serve(config, tmp_path / f"gateway-{number}.log"))
            bases.append(f"http://127.0.0.1:{port}")
        for base, process in zip(bases, processes, strict=True):
            wait_until_ready(base, process)
        yield bases
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def gateway_config(url: str, port: int) -> dict[str, object]:
    """Return the config of one gateway on the shared database."""
    return {
        "database": url,
        "listen": {"host": "127.0.0.1", "port": port},
        "logging": {"level": "warning"},
        "operators": [{"name": "casino-a", "api_keys": [API_KEY]}],
        "providers": {
            PROVIDER: {
                "adapter": "softswiss",
                "base_url": "http://127.0.0.1:9",
                "auth_token": "unused-studio-token",
                "casino_id": "casino-a",
            }
        },
    }


def serve(config: Path, log: Path) -> subprocess.Popen[bytes]:
    """Start `gamegate serve` on a config, its output kept in a log file."""
    with log.open("wb") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "gateway", "serve", "--config", str(config)],
            stdout=output,
            stderr=subprocess.STDOUT,
        )


def wait_until_ready(base: str, process: subprocess.Popen[bytes]) -> None:
    """Return once the gateway answers that its database is ready."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{base}/readyz", timeout=0.5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the gateway on {base} did not become ready")


async def test_debits_from_two_gateway_processes_never_overdraw(
    gateways: list[str],
) -> None:
    """Two gateway processes debiting one player at once take only what is there."""
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with httpx.AsyncClient(headers=headers, timeout=30) as client:
        funded = await client.post(
            f"{gateways[0]}/v1/wallet/transfers",
            json=transfer("credit", "10.00", "funding-1"),
        )
        assert funded.status_code == 200

        answers = await asyncio.gather(
            *(
                client.post(
                    f"{gateways[i % 2]}/v1/wallet/transfers",
                    json=transfer("debit", "3.00", f"debit-{i}"),
                )
                for i in range(30)
            )
        )
        final = await client.get(
            f"{gateways[1]}/v1/players/player-1/balance", params={"currency": "EUR"}
        )

    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200] * 3 + [409] * 27
    refusals = {a.json()["error"]["code"] for a in answers if a.status_code == 409}
    assert refusals == {Status.INSUFFICIENT_FUNDS.value}
    assert final.json()["balance"] == "1.00"


def transfer(direction: str, amount: str, reference: str) -> dict[str, str]:
    """Return the body of an operator transfer for player-1 in EUR."""
    return {
        "player": "player-1",
        "currency": "EUR",
        "amount": amount,
        "direction": direction,
        "reference": reference,
    }
