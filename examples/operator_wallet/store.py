"""The reference wallet's books: balances and transactions in one SQLite file.

Every request that may move money is one `BEGIN IMMEDIATE` transaction.
SQLite takes its write lock at the start, so two requests (even from two
processes sharing the file) never both read a balance and both spend it.

Each idempotency key is stored with the request it came with and the answer
it got, refusals included. That makes a key's fate final: a request sent
again gets the answer it got the first time, and a key refused once stays
refused.

The calls run on the event loop, not in a thread: each is one short
transaction, and running them in line keeps this code plain and one
process's requests in strict order. The cost: while another process holds
the file's write lock, this process waits (up to `busy_timeout`) with its
loop blocked; a wallet shared by several processes should move the calls to
a thread.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import orjson

OK = "ok"
INSUFFICIENT_FUNDS = "insufficient_funds"
UNKNOWN_PLAYER = "unknown_player"
PLAYER_BLOCKED = "player_blocked"
NOT_FOUND = "not_found"
ROLLED_BACK = "rolled_back"
MISMATCH = "mismatch"

APPLIED = "applied"
REFUSED = "refused"
# A key rolled back before its debit or credit arrived; it never moves money.
VOID = "void"

Answer = dict[str, Any]

SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    operator TEXT NOT NULL,
    player TEXT NOT NULL,
    currency TEXT NOT NULL,
    balance INTEGER NOT NULL CHECK (balance >= 0),
    blocked INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (operator, player, currency)
);
CREATE TABLE IF NOT EXISTS transactions (
    idempotency_key TEXT PRIMARY KEY,
    operation TEXT NOT NULL,
    request BLOB NOT NULL,
    state TEXT NOT NULL,
    amount INTEGER NOT NULL,
    kind TEXT,
    answer BLOB NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class _Account:
    balance: int
    blocked: bool


@dataclass(frozen=True, slots=True)
class _Stored:
    operation: str
    request: bytes
    state: str
    amount: int
    kind: str | None
    answer: bytes


class Store:
    """Balances and transactions of the reference wallet, in one SQLite file."""

    def __init__(self, path: str) -> None:
        # isolation_level=None: the module opens no transactions behind our
        # back, so `BEGIN IMMEDIATE` below is the only one there is.
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # The wallet is where the money is: a debit it answered must survive
        # a power loss, so every commit waits for the disk.
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        """Close the database file."""
        self._db.close()

    def balance(self, operator: str, player: str, currency: str) -> Answer:
        """Answer a player's balance in one currency."""
        account = self._account(operator, player, currency)
        if account is None:
            return {"status": UNKNOWN_PLAYER, "balance": None, "currency": currency}

        return {"status": OK, "balance": account.balance, "currency": currency}

    def debit(self, request: Mapping[str, Any]) -> Answer:
        """Take money from a player once per key, never below zero."""
        return self._move("debit", request)

    def credit(self, request: Mapping[str, Any]) -> Answer:
        """Give money to a player once per key; blocked players are still paid."""
        return self._move("credit", request)

    def rollback(self, request: Mapping[str, Any]) -> Answer:
        """Undo the debit or credit stored under another key, once.

        A key never applied answers `not_found` and is remembered as rolled
        back, so its debit, arriving late, moves nothing.
        """
        with self._transaction():
            known = self._replay("rollback", request)
            if known is not None:
                return known

            answer = self._reverse(request)
            applied = answer["status"] in (OK, NOT_FOUND)
            self._store("rollback", request, APPLIED if applied else REFUSED, answer)

        return answer

    def transaction(self, idempotency_key: str) -> Answer:
        """Answer what became of a key: applied, rolled back, refused or unknown."""
        stored = self._find(idempotency_key)
        if stored is None:
            return {"status": NOT_FOUND}
        if stored.operation == VOID:
            return {"status": ROLLED_BACK}

        answer: Answer = {"status": stored.state, "amount": stored.amount}
        if stored.kind is not None:
            answer["kind"] = stored.kind

        return answer

    def set_player(
        self, operator: str, player: str, currency: str, balance: int, blocked: bool
    ) -> Answer:
        """Create or overwrite a player's account, for demos and tests."""
        with self._transaction():
            self._db.execute(
                "INSERT INTO accounts (operator, player, currency, balance, blocked)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (operator, player, currency)"
                " DO UPDATE SET balance = excluded.balance, blocked = excluded.blocked",
                (operator, player, currency, balance, blocked),
            )

        return {"status": OK, "balance": balance, "currency": currency}

    def _move(self, operation: str, request: Mapping[str, Any]) -> Answer:
        with self._transaction():
            known = self._replay(operation, request)
            if known is not None:
                return known

            account = self._account_of(request)
            amount = request["amount"]
            status = _refusal(operation, account, amount)
            if status is not None:
                balance = None if account is None else account.balance
                refused: Answer = {
                    "status": status,
                    "balance": balance,
                    "wallet_transaction_id": None,
                }
                self._store(operation, request, REFUSED, refused)
                return refused

            assert account is not None  # _refusal refuses a missing account
            change = -amount if operation == "debit" else amount
            balance = self._add(request, change)
            answer: Answer = {
                "status": OK,
                "balance": balance,
                "wallet_transaction_id": uuid.uuid4().hex,
            }
            self._store(operation, request, APPLIED, answer)

        return answer

    def _replay(self, operation: str, request: Mapping[str, Any]) -> Answer | None:
        stored = self._find(request["idempotency_key"])
        if stored is None:
            return None

        account = self._account_of(request)
        balance = None if account is None else account.balance
        if stored.operation == VOID:
            answer: Answer = {"status": ROLLED_BACK, "balance": balance}
        elif stored.operation != operation or stored.request != _canonical(request):
            answer = {"status": MISMATCH, "balance": balance}
        else:
            return dict(orjson.loads(stored.answer))
        if operation != "rollback":
            answer["wallet_transaction_id"] = None

        return answer

    def _reverse(self, request: Mapping[str, Any]) -> Answer:
        original_key = request["original_idempotency_key"]
        original = self._find(original_key)
        account = self._account_of(request)
        balance = None if account is None else account.balance

        if original is None or original.state == REFUSED:
            if original is None:
                # Remembered so that the original, if it arrives after its own
                # rollback (networks reorder), is refused instead of applied.
                self._db.execute(
                    "INSERT INTO transactions (idempotency_key, operation, request,"
                    " state, amount, kind, answer) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (original_key, VOID, b"", ROLLED_BACK, 0, None, b""),
                )
            return {"status": NOT_FOUND, "balance": balance}
        if original.operation == VOID or original.state == ROLLED_BACK:
            return {"status": ROLLED_BACK, "balance": balance}
        if original.operation == "rollback":
            return {"status": NOT_FOUND, "balance": balance}
        if not _same_money(orjson.loads(original.request), request):
            return {"status": MISMATCH, "balance": balance}

        assert account is not None  # the original's account, found just above
        change = original.amount if original.operation == "debit" else -original.amount
        if account.balance + change < 0:
            return {"status": INSUFFICIENT_FUNDS, "balance": balance}
        self._db.execute(
            "UPDATE transactions SET state = ? WHERE idempotency_key = ?",
            (ROLLED_BACK, original_key),
        )

        return {"status": OK, "balance": self._add(request, change)}

    def _store(
        self, operation: str, request: Mapping[str, Any], state: str, answer: Answer
    ) -> None:
        self._db.execute(
            "INSERT INTO transactions (idempotency_key, operation, request, state,"
            " amount, kind, answer) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                request["idempotency_key"],
                operation,
                _canonical(request),
                state,
                request["amount"],
                request.get("kind"),
                orjson.dumps(answer),
            ),
        )

    def _add(self, request: Mapping[str, Any], change: int) -> int:
        row = self._db.execute(
            "UPDATE accounts SET balance = balance + ?"
            " WHERE operator = ? AND player = ? AND currency = ? RETURNING balance",
            (change, request["operator"], request["player"], request["currency"]),
        ).fetchone()

        return int(row[0])

    def _account_of(self, request: Mapping[str, Any]) -> _Account | None:
        return self._account(
            request["operator"], request["player"], request["currency"]
        )

    def _account(self, operator: str, player: str, currency: str) -> _Account | None:
        row = self._db.execute(
            "SELECT balance, blocked FROM accounts"
            " WHERE operator = ? AND player = ? AND currency = ?",
            (operator, player, currency),
        ).fetchone()

        return None if row is None else _Account(int(row[0]), bool(row[1]))

    def _find(self, idempotency_key: str) -> _Stored | None:
        row = self._db.execute(
            "SELECT operation, request, state, amount, kind, answer"
            " FROM transactions WHERE idempotency_key = ?",
            (idempotency_key,),
        ).fetchone()

        return None if row is None else _Stored(*row)

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")


def _refusal(operation: str, account: _Account | None, amount: int) -> str | None:
    if account is None:
        return UNKNOWN_PLAYER
    if operation == "debit" and account.blocked:
        return PLAYER_BLOCKED
    if operation == "debit" and amount > account.balance:
        return INSUFFICIENT_FUNDS

    return None


def _same_money(original: Mapping[str, Any], rollback: Mapping[str, Any]) -> bool:
    fields = ("operator", "player", "currency", "amount")
    return all(original[field] == rollback[field] for field in fields)


def _canonical(request: Mapping[str, Any]) -> bytes:
    # Sorted keys, so the same content always gives the same bytes to compare.
    return orjson.dumps(request, option=orjson.OPT_SORT_KEYS)
