"""The reference operator wallet, over real HTTP on loopback, against its contract."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from examples.operator_wallet import WALLET, create_app, serve
from gateway.operator_wallet import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

SECRET = "placeholder-wallet-secret"
OPERATOR = "casino-a"
PLAYER = "player-1"
ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Caller:
    """Signs requests the way the gateway does and checks every answer's signature."""

    session: aiohttp.ClientSession
    url: str

    async def call(
        self,
        path: str,
        document: Mapping[str, Any] | None = None,
        *,
        body: bytes | None = None,
        secret: str = SECRET,
        timestamp: str | None = None,
        signature: str | None = None,
    ) -> tuple[int, dict[str, Any]]:
        """Send one request (GET when there is no body) and return status and JSON."""
        if body is None:
            body = b"" if document is None else orjson.dumps(document)
        timestamp = str(int(time.time())) if timestamp is None else timestamp
        headers = {
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: signature or sign(secret, timestamp, body),
        }
        method = "POST" if body else "GET"
        async with self.session.request(
            method, self.url + path, data=body or None, headers=headers
        ) as response:
            raw = await response.read()
            answered_at = response.headers[TIMESTAMP_HEADER]
            assert response.headers[SIGNATURE_HEADER] == sign(SECRET, answered_at, raw)
            return response.status, orjson.loads(raw)

    async def ok(self, path: str, document: Mapping[str, Any]) -> dict[str, Any]:
        """Send a request that must be answered with 200, and return the answer."""
        status, answer = await self.call(path, document)
        assert status == 200, answer
        return answer

    async def fund(
        self, balance: int, player: str = PLAYER, blocked: bool = False
    ) -> dict[str, Any]:
        """Create or overwrite the player's EUR account."""
        document = {**account(player), "balance": balance, "blocked": blocked}
        return await self.ok("/admin/players", document)

    async def balance(self, player: str = PLAYER) -> int | None:
        """Return the player's EUR balance as the wallet answers it."""
        answer = await self.ok("/balance", account(player))
        return answer["balance"]

    async def state(self, key: str) -> dict[str, Any]:
        """Return what the wallet says became of a key."""
        status, answer = await self.call(f"/transactions/{key}")
        assert status == 200
        return answer


def account(player: str = PLAYER) -> dict[str, Any]:
    """Return the fields that name the player's EUR account."""
    return {"operator": OPERATOR, "player": player, "currency": "EUR"}


def debit(key: str, amount: int, **changes: Any) -> dict[str, Any]:
    """Return a debit body with placeholder round and game."""
    document = {
        "idempotency_key": key,
        **account(),
        "amount": amount,
        "provider": "studio-direct",
        "transaction_id": key.rsplit("/", 1)[-1],
        "round_id": "round-1",
        "game": "example-studio:fruit-reels",
    }
    return {**document, **changes}


def credit(key: str, amount: int, kind: str = "win", **changes: Any) -> dict[str, Any]:
    """Return a credit body of the given kind."""
    return {**debit(key, amount), "kind": kind, **changes}


def rollback(key: str, original: str, amount: int, **changes: Any) -> dict[str, Any]:
    """Return a rollback body undoing `original`."""
    document = {
        "idempotency_key": key,
        "original_idempotency_key": original,
        **account(),
        "amount": amount,
    }
    return {**document, **changes}


@pytest.fixture
async def wallet(tmp_path: Path) -> AsyncIterator[tuple[web.Application, str]]:
    """A reference wallet on a free loopback port, over a fresh SQLite file."""
    app = create_app(SECRET, str(tmp_path / "wallet.db"))
    async with serve(app) as url:
        yield app, url


@pytest.fixture
async def caller(wallet: tuple[web.Application, str]) -> AsyncIterator[Caller]:
    """A signed caller of the wallet fixture."""
    async with aiohttp.ClientSession() as session:
        yield Caller(session, wallet[1])


class TestSignatures:
    @pytest.mark.parametrize(
        "change",
        [
            {"secret": "another-placeholder-secret"},
            {"signature": "0" * 64},
            {"signature": sign(SECRET, "1", b"{}")},
        ],
        ids=["other secret", "made-up signature", "signature of another message"],
    )
    async def test_wrong_signature_is_refused_and_moves_nothing(
        self, caller: Caller, change: dict[str, str]
    ) -> None:
        """A debit whose signature does not verify is answered 401 and moves nothing."""
        await caller.fund(1000)

        status, answer = await caller.call("/debit", debit("k/1", 100), **change)

        assert status == 401
        assert "error" in answer
        assert await caller.balance() == 1000
        assert (await caller.state("k%2F1"))["status"] == "not_found"

    async def test_body_changed_after_signing_is_refused(self, caller: Caller) -> None:
        """A signature covers the raw body: a body altered after signing is refused."""
        await caller.fund(1000)
        timestamp = str(int(time.time()))
        signed = sign(SECRET, timestamp, orjson.dumps(debit("k/1", 1)))

        status, _ = await caller.call(
            "/debit",
            body=orjson.dumps(debit("k/1", 999)),
            timestamp=timestamp,
            signature=signed,
        )

        assert status == 401
        assert await caller.balance() == 1000

    @pytest.mark.parametrize(
        ("offset", "expected"),
        [(-301, 401), (-299, 200), (0, 200), (299, 200), (301, 401)],
    )
    async def test_timestamp_window(
        self, caller: Caller, offset: int, expected: int
    ) -> None:
        """Requests are taken only within 300 seconds of the wallet's clock."""
        timestamp = str(int(time.time()) + offset)

        status, _ = await caller.call("/balance", account(), timestamp=timestamp)

        assert status == expected

    @pytest.mark.parametrize("timestamp", ["", "12.5", "-5", "\u00b2"])
    async def test_timestamp_must_be_whole_seconds(
        self, caller: Caller, timestamp: str
    ) -> None:
        """A timestamp that is not a plain decimal integer is refused."""
        status, _ = await caller.call("/balance", account(), timestamp=timestamp)

        assert status == 401


class TestMoney:
    async def test_debit_credit_rollback(self, caller: Caller) -> None:
        """Debits take, credits give, a rollback returns a debit's money once."""
        await caller.fund(1000)

        taken = await caller.ok("/debit", debit("k/1", 250))
        paid = await caller.ok("/credit", credit("k/2", 100, kind="jackpot"))
        undone = await caller.ok("/rollback", rollback("k/3", "k/1", 250))
        again = await caller.ok("/rollback", rollback("k/4", "k/1", 250))

        assert taken["status"] == "ok"
        assert taken["balance"] == 750
        assert taken["wallet_transaction_id"]
        assert paid["balance"] == 850
        assert paid["wallet_transaction_id"] != taken["wallet_transaction_id"]
        assert undone == {"status": "ok", "balance": 1100}
        assert again == {"status": "rolled_back", "balance": 1100}
        assert await caller.balance() == 1100

    async def test_rollback_of_credit_takes_it_back(self, caller: Caller) -> None:
        """A rolled-back credit is taken back, and refused if the money is gone."""
        await caller.fund(0)
        await caller.ok("/credit", credit("k/1", 300))
        await caller.ok("/credit", credit("k/2", 300))

        undone = await caller.ok("/rollback", rollback("k/3", "k/1", 300))
        await caller.ok("/debit", debit("k/4", 200))
        refused = await caller.ok("/rollback", rollback("k/5", "k/2", 300))

        assert undone == {"status": "ok", "balance": 300}
        assert refused == {"status": "insufficient_funds", "balance": 100}
        assert (await caller.state("k%2F2"))["status"] == "applied"
        assert (await caller.state("k%2F5"))["status"] == "refused"
        assert await caller.balance() == 100

    async def test_replay_answers_the_stored_answer(self, caller: Caller) -> None:
        """The same key with the same content answers as before and moves nothing."""
        await caller.fund(1000)

        first = await caller.ok("/debit", debit("k/1", 250))
        await caller.ok("/credit", credit("k/2", 50))
        second = await caller.ok("/debit", debit("k/1", 250))
        undone = await caller.ok("/rollback", rollback("k/3", "k/1", 250))
        undone_again = await caller.ok("/rollback", rollback("k/3", "k/1", 250))

        assert second == first
        assert undone_again == undone
        assert await caller.balance() == 1050

    @pytest.mark.parametrize(
        ("path", "document"),
        [
            ("/debit", debit("k/1", 251)),
            ("/debit", debit("k/1", 250, round_id="round-2")),
            ("/debit", debit("k/1", 250, game=None)),
            ("/debit", debit("k/1", 250, provider="studio-via-hub")),
            ("/credit", credit("k/1", 250)),
            ("/rollback", rollback("k/1", "k/0", 250)),
        ],
        ids=["amount", "round", "game", "provider", "as credit", "as rollback"],
    )
    async def test_same_key_other_content_is_a_mismatch(
        self, caller: Caller, path: str, document: dict[str, Any]
    ) -> None:
        """The same key with different content answers mismatch and moves nothing."""
        await caller.fund(1000)
        first = await caller.ok("/debit", debit("k/1", 250))

        answer = await caller.ok(path, document)
        replay = await caller.ok("/debit", debit("k/1", 250))

        assert answer["status"] == "mismatch"
        assert answer["balance"] == 750
        assert replay == first
        assert await caller.balance() == 750

    async def test_insufficient_funds_never_go_negative(self, caller: Caller) -> None:
        """A debit beyond the balance is refused; the whole balance can be spent."""
        await caller.fund(1000)

        over = await caller.ok("/debit", debit("k/1", 1001))
        exact = await caller.ok("/debit", debit("k/2", 1000))
        one_more = await caller.ok("/debit", debit("k/3", 1))

        assert over == {
            "status": "insufficient_funds",
            "balance": 1000,
            "wallet_transaction_id": None,
        }
        assert exact["balance"] == 0
        assert one_more["status"] == "insufficient_funds"
        assert await caller.balance() == 0

    async def test_a_refused_key_stays_refused(self, caller: Caller) -> None:
        """A key refused once is answered with its refusal even after a deposit."""
        await caller.fund(100)
        await caller.ok("/debit", debit("k/1", 500))
        await caller.fund(1000)

        again = await caller.ok("/debit", debit("k/1", 500))

        assert again["status"] == "insufficient_funds"
        assert again["balance"] == 100
        assert await caller.balance() == 1000

    async def test_rollback_before_debit_refuses_the_late_debit(
        self, caller: Caller
    ) -> None:
        """An unknown rollback answers not_found; the late debit then moves nothing."""
        await caller.fund(1000)

        early = await caller.ok("/rollback", rollback("k/2", "k/1", 250))
        late = await caller.ok("/debit", debit("k/1", 250))
        late_again = await caller.ok("/debit", debit("k/1", 250))

        assert early == {"status": "not_found", "balance": 1000}
        assert late["status"] == "rolled_back"
        assert late["wallet_transaction_id"] is None
        assert late_again == late
        assert (await caller.state("k%2F1"))["status"] == "rolled_back"
        assert await caller.balance() == 1000

    async def test_rollback_of_a_refused_debit_is_not_found(
        self, caller: Caller
    ) -> None:
        """Rolling back a refused debit answers not_found and moves nothing."""
        await caller.fund(100)
        await caller.ok("/debit", debit("k/1", 500))

        answer = await caller.ok("/rollback", rollback("k/2", "k/1", 500))

        assert answer == {"status": "not_found", "balance": 100}
        assert (await caller.state("k%2F1"))["status"] == "refused"

    @pytest.mark.parametrize(
        "change",
        [{"amount": 249}, {"player": "player-2"}, {"currency": "USD"}],
        ids=["amount", "player", "currency"],
    )
    async def test_rollback_must_match_its_original(
        self, caller: Caller, change: dict[str, Any]
    ) -> None:
        """A rollback whose money differs from the original's is a mismatch."""
        await caller.fund(1000)
        await caller.ok("/debit", debit("k/1", 250))

        answer = await caller.ok("/rollback", {**rollback("k/2", "k/1", 250), **change})

        assert answer["status"] == "mismatch"
        assert await caller.balance() == 750
        assert (await caller.state("k%2F1"))["status"] == "applied"

    async def test_unknown_and_blocked_players(self, caller: Caller) -> None:
        """Unknown players are refused; blocked players cannot bet but are paid."""
        await caller.fund(1000, blocked=True)
        stranger = {"player": "player-9"}

        unknown_balance = await caller.ok("/balance", account("player-9"))
        unknown_debit = await caller.ok("/debit", debit("k/1", 1, **stranger))
        blocked_debit = await caller.ok("/debit", debit("k/2", 1))
        blocked_credit = await caller.ok("/credit", credit("k/3", 1))

        assert unknown_balance == {
            "status": "unknown_player",
            "balance": None,
            "currency": "EUR",
        }
        assert unknown_debit["status"] == "unknown_player"
        assert unknown_debit["balance"] is None
        assert blocked_debit["status"] == "player_blocked"
        assert blocked_credit["status"] == "ok"
        assert await caller.balance() == 1001

    async def test_concurrent_debits_spend_exactly_the_balance(
        self, caller: Caller
    ) -> None:
        """Of many simultaneous debits on one player, exactly the affordable succeed."""
        await caller.fund(1000)

        answers = await asyncio.gather(
            *(caller.ok("/debit", debit(f"k/{n}", 100)) for n in range(25))
        )

        statuses = sorted(answer["status"] for answer in answers)
        assert statuses == ["insufficient_funds"] * 15 + ["ok"] * 10
        assert await caller.balance() == 0

    async def test_two_processes_sharing_the_file_never_overspend(
        self, caller: Caller, tmp_path: Path
    ) -> None:
        """Two wallet processes on one SQLite file serialize their debits."""
        await caller.fund(1000)
        with second_process(tmp_path / "wallet.db") as other_url:
            other = Caller(caller.session, other_url)
            callers = [caller, other] * 20

            answers = await asyncio.gather(
                *(c.ok("/debit", debit(f"k/{n}", 100)) for n, c in enumerate(callers))
            )

        assert sum(answer["status"] == "ok" for answer in answers) == 10
        assert await caller.balance() == 0


class TestTransactions:
    async def test_transaction_state_of_each_kind(self, caller: Caller) -> None:
        """The reconciliation call tells applied, rolled back, refused and unknown."""
        await caller.fund(1000)
        await caller.ok("/debit", debit("k/1", 100))
        await caller.ok("/debit", debit("k/2", 200))
        await caller.ok("/rollback", rollback("k/3", "k/2", 200))
        await caller.ok("/debit", debit("k/4", 5000))
        await caller.ok("/credit", credit("k/5", 40, kind="bonus"))

        assert await caller.state("k%2F1") == {"status": "applied", "amount": 100}
        assert await caller.state("k%2F2") == {"status": "rolled_back", "amount": 200}
        assert await caller.state("k%2F3") == {"status": "applied", "amount": 200}
        assert await caller.state("k%2F4") == {"status": "refused", "amount": 5000}
        assert await caller.state("k%2F5") == {
            "status": "applied",
            "amount": 40,
            "kind": "bonus",
        }
        assert await caller.state("k%2F6") == {"status": "not_found"}


class TestMalformed:
    @pytest.mark.parametrize(
        "body",
        [
            b"not json",
            b"[]",
            orjson.dumps({**debit("k/1", 1), "extra": 1}),
            orjson.dumps({k: v for k, v in debit("k/1", 1).items() if k != "game"}),
            orjson.dumps(debit("k/1", -1)),
            orjson.dumps(debit("k/1", 1.0)),
            orjson.dumps(debit("k/1", True)),
            orjson.dumps(debit("k/1", "1.00")),
            orjson.dumps(debit("k/1", 1, currency="eur")),
            orjson.dumps(debit("k/1", 1, player="")),
            orjson.dumps(credit("k/1", 1)),
        ],
        ids=[
            "not JSON",
            "not an object",
            "unknown field",
            "missing field",
            "negative",
            "float",
            "bool",
            "decimal string",
            "lower-case currency",
            "empty player",
            "credit body at /debit",
        ],
    )
    async def test_malformed_debit_is_400(self, caller: Caller, body: bytes) -> None:
        """A debit body outside the contract is answered 400 and moves nothing."""
        await caller.fund(1000)

        status, answer = await caller.call("/debit", body=body)

        assert status == 400
        assert answer["error"]
        assert await caller.balance() == 1000

    async def test_unknown_credit_kind_is_400(self, caller: Caller) -> None:
        """A credit kind outside the closed set is malformed."""
        await caller.fund(0)

        status, _ = await caller.call("/credit", credit("k/1", 1, kind="gift"))

        assert status == 400


class TestFaults:
    async def test_fail_next_answers_500_without_applying(
        self, caller: Caller, wallet: tuple[web.Application, str]
    ) -> None:
        """Injected failures answer 500, apply nothing, and count as calls."""
        await caller.fund(1000)
        await caller.ok("/admin/faults", {"delay_seconds": 0, "fail_next": 2})

        first, _ = await caller.call("/debit", debit("k/1", 100))
        second, _ = await caller.call("/debit", debit("k/1", 100))
        third = await caller.ok("/debit", debit("k/1", 100))

        assert (first, second, third["status"]) == (500, 500, "ok")
        assert await caller.balance() == 900
        assert wallet[0][WALLET].faults.calls == 4

    async def test_delay_applies_then_answers_late(
        self, caller: Caller, wallet: tuple[web.Application, str]
    ) -> None:
        """With a delay the call is applied at once and answered only later."""
        await caller.fund(1000)
        wallet[0][WALLET].faults.delay_seconds = 1.0

        late = asyncio.ensure_future(caller.ok("/debit", debit("k/1", 100)))
        await asyncio.sleep(0.2)
        wallet[0][WALLET].faults.delay_seconds = 0
        applied_before_answer = await caller.state("k%2F1")

        assert not late.done()
        assert applied_before_answer["status"] == "applied"
        assert (await late)["balance"] == 900


def free_port() -> int:
    """Return a loopback port that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def second_process(db_path: Path) -> Iterator[str]:
    """Serve the same file from `python -m examples.operator_wallet`; yield its URL."""
    port = free_port()
    command = [sys.executable, "-m", "examples.operator_wallet", "serve"]
    command += ["--port", str(port), "--db", str(db_path)]
    environment = {**os.environ, "OPERATOR_WALLET_SECRET": SECRET}
    process = subprocess.Popen(
        command, cwd=ROOT, env=environment, stdout=subprocess.DEVNULL
    )
    try:
        wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    """Wait until the process accepts connections on the port, or fail."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        assert process.poll() is None, "the wallet process exited"
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError("the wallet process did not start listening")
