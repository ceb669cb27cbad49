"""A real gamegate gateway on loopback, running one adapter, as the kit drives it.

The gateway is built the way `gamegate serve` builds it: `parse_config` and
`build_app`, a fresh SQLite file, the built-in wallet, one operator with an
API key and one provider instance named `under-test`. Money is read back
through the gateway's own operator API and its ledger tables.

This module imports `gateway`: the kit runs where gamegate is installed. The
adapter under test still imports only `contracts`.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from aiohttp.test_utils import TestServer

from contracts.adapter import GameAdapter
from contracts.launch import Mode
from contracts.money import Money
from contracts.testing.adapter import AdapterUnderTest
from contracts.testing.client import KitAnswer, ProviderClient
from contracts.wallet import Profile
from gateway import clock
from gateway.app import RUNTIME, Runtime, build_app
from gateway.config import parse_config
from gateway.ledger import player_ref
from gateway.plugins import load_adapters

INSTANCE = "under-test"
OPERATOR = "kit-operator"


@dataclass(frozen=True, slots=True)
class KitPlayer:
    """A test player: the operator's id, the provider's reference, one session."""

    id: str
    ref: str
    currency: str
    session_id: str
    session_token: str


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One row of the ledger's transactions table, as the scenarios check it."""

    operation: str
    amount: int
    state: str
    round_id: str | None
    reference_transaction_id: str | None
    currency: str


class KitGateway:
    """A running gateway with the adapter under test as provider `under-test`."""

    def __init__(
        self,
        declared: AdapterUnderTest,
        server: TestServer,
        http: httpx.AsyncClient,
        settings: Mapping[str, Any],
        profile: Profile,
    ) -> None:
        self.declared = declared
        self.settings = settings
        self.profile = profile
        self.callback_url = str(server.make_url(f"/providers/{INSTANCE}/"))
        self._server = server
        self._http = http
        self._players = 0

    @classmethod
    @asynccontextmanager
    async def running(
        cls, declared: AdapterUnderTest, database: Path
    ) -> AsyncIterator[KitGateway]:
        """Start the simulator if any, then the gateway; stop both on exit."""
        async with AsyncExitStack() as stack:
            settings = dict(declared.settings)
            if declared.launch_simulator is not None:
                simulator = declared.launch_simulator(dict(settings))
                settings["base_url"] = await stack.enter_async_context(simulator)

            api_key = f"kit-{secrets.token_hex(16)}"
            plugin_name = getattr(declared.plugin, "__name__", None)
            registry = load_adapters(
                allow=[plugin_name or type(declared.plugin).__name__],
                plugins=[declared.plugin],
            )
            config = parse_config(
                _config_data(declared, settings, database, api_key), registry, {}
            )
            server = TestServer(build_app(config, registry), host="127.0.0.1")
            await server.start_server()
            stack.push_async_callback(server.close)

            http = httpx.AsyncClient(
                base_url=str(server.make_url("/")),
                headers={"Authorization": f"Bearer {api_key}"},
                timeout=10.0,
            )
            stack.push_async_callback(http.aclose)
            adapter_cls = registry.get(declared.adapter).cls
            if not issubclass(adapter_cls, GameAdapter):
                raise TypeError(f"{declared.adapter!r} is not a game adapter")
            profile = adapter_cls.profile

            yield cls(declared, server, http, settings, profile)

    @property
    def runtime(self) -> Runtime:
        """The gateway's runtime: its database, ledger and sessions."""
        return self._server.app[RUNTIME]

    def new_id(self, kind: str) -> str:
        """Return a fresh id for a transaction or a round, unique in the run."""
        return f"kit-{kind}-{uuid.uuid4().hex[:20]}"

    def format(self, minor: int, currency: str) -> str:
        """Render minor units as the gateway's decimal text for the currency."""
        return self.runtime.currencies.format(Money(minor, currency))

    async def open_player(self, currency: str, funds: int) -> KitPlayer:
        """Create a player, fund it through the operator API, and launch a game."""
        self._players += 1
        player = f"kit-player-{self._players}"
        if funds:
            await self._transfer(player, currency, funds)
        session_id, token = await self._launch(player, currency)

        return KitPlayer(
            id=player,
            ref=player_ref(OPERATOR, player),
            currency=currency,
            session_id=session_id,
            session_token=token,
        )

    async def fund(self, player: KitPlayer, amount: int) -> None:
        """Credit a player's balance through `POST /v1/wallet/transfers`."""
        await self._transfer(player.id, player.currency, amount)

    async def balance(self, player: KitPlayer) -> int:
        """Return the player's balance in minor units from the operator API."""
        response = await self._http.get(
            f"/v1/players/{player.id}/balance", params={"currency": player.currency}
        )
        assert response.status_code == 200, response.text
        text = response.json()["balance"]
        minor = self.runtime.currencies.parse(text, player.currency).minor
        assert self.format(minor, player.currency) == text, "balance text not exact"

        return minor

    async def footprint(self) -> tuple[int, int]:
        """Return how many transaction and round rows the instance has written."""
        transactions = await self.runtime.db.one(
            "SELECT count(*) FROM transactions WHERE provider = ?", INSTANCE
        )
        rounds = await self.runtime.db.one(
            "SELECT count(*) FROM rounds WHERE provider = ?", INSTANCE
        )
        assert transactions is not None and rounds is not None

        return int(transactions[0]), int(rounds[0])

    async def entry(self, transaction_id: str) -> LedgerEntry | None:
        """Return the ledger's row for a provider transaction id, or None."""
        row = await self.runtime.db.one(
            "SELECT operation, amount, state, round_id, reference_transaction_id,"
            " currency FROM transactions"
            " WHERE provider = ? AND provider_transaction_id = ?",
            INSTANCE,
            transaction_id,
        )
        if row is None:
            return None

        return LedgerEntry(
            operation=str(row[0]),
            amount=int(row[1]),
            state=str(row[2]),
            round_id=row[3],
            reference_transaction_id=row[4],
            currency=str(row[5]),
        )

    async def round_closed(self, round_id: str) -> bool | None:
        """Return whether the ledger holds a round as closed, or None if unknown."""
        row = await self.runtime.db.one(
            "SELECT closed FROM rounds WHERE provider = ? AND round_id = ?",
            INSTANCE,
            round_id,
        )
        return None if row is None else bool(row[0])

    async def expire_session(self, player: KitPlayer) -> None:
        """Move the player's session expiry into the past, in the database."""
        past = clock.to_text(clock.now() - timedelta(hours=1))
        async with self.runtime.db.transaction() as tx:
            changed = await tx.run(
                "UPDATE game_sessions SET expires_at = ? WHERE token = ?",
                past,
                player.session_token,
            )
        assert changed == 1, "the player's session is not in the database"

    async def _transfer(self, player: str, currency: str, amount: int) -> None:
        response = await self._http.post(
            "/v1/wallet/transfers",
            json={
                "player": player,
                "currency": currency,
                "amount": self.format(amount, currency),
                "direction": "credit",
                "reference": self.new_id("fund"),
            },
        )
        assert response.status_code == 200, response.text

    async def _launch(self, player: str, currency: str) -> tuple[str, str]:
        declared = self.declared
        if declared.launch_simulator is None and declared.launch_needs_provider:
            return await self._open_session(player, currency)

        response = await self._http.post(
            "/v1/sessions",
            json={
                "player": player,
                "game": declared.game,
                "currency": currency,
                "provider": INSTANCE,
            },
        )
        assert response.status_code == 201, response.text
        session_id = response.json()["session_id"]
        session = await self.runtime.sessions.get(session_id)
        assert session is not None

        return session.id, session.token

    async def _open_session(self, player: str, currency: str) -> tuple[str, str]:
        # No provider to launch at: the session is recorded as a launch would.
        await self.runtime.ledger.open_account(OPERATOR, player, currency)
        session = await self.runtime.sessions.open(
            operator=OPERATOR,
            player=player,
            provider=INSTANCE,
            game=self.declared.game,
            currency=currency,
            mode=Mode.REAL,
        )

        return session.id, session.token


@dataclass(frozen=True, slots=True)
class Seat:
    """A player's session at the provider under test: the client bound to it."""

    client: ProviderClient
    player: KitPlayer

    async def balance(self) -> KitAnswer:
        """Ask for the player's balance."""
        player = self.player

        return await self.client.balance(
            player=player.ref,
            currency=player.currency,
            session_token=player.session_token,
        )

    async def debit(
        self,
        amount: int,
        transaction_id: str,
        round_id: str,
        *,
        free_round: bool = False,
    ) -> KitAnswer:
        """Place a bet in a round."""
        player = self.player

        return await self.client.debit(
            player=player.ref,
            currency=player.currency,
            amount=amount,
            transaction_id=transaction_id,
            round_id=round_id,
            session_token=player.session_token,
            free_round=free_round,
        )

    async def credit(
        self,
        amount: int,
        transaction_id: str,
        round_id: str,
        debit_transaction_id: str | None,
        *,
        round_closed: bool = True,
    ) -> KitAnswer:
        """Pay a win in a round, naming its bet for protocols that do."""
        player = self.player

        return await self.client.credit(
            player=player.ref,
            currency=player.currency,
            amount=amount,
            transaction_id=transaction_id,
            round_id=round_id,
            session_token=player.session_token,
            debit_transaction_id=debit_transaction_id,
            round_closed=round_closed,
        )

    async def rollback(
        self, transaction_id: str, debit_transaction_id: str, amount: int, round_id: str
    ) -> KitAnswer:
        """Roll back a bet of a round."""
        player = self.player

        return await self.client.rollback(
            player=player.ref,
            currency=player.currency,
            transaction_id=transaction_id,
            debit_transaction_id=debit_transaction_id,
            amount=amount,
            round_id=round_id,
            session_token=player.session_token,
        )

    async def end_round(self, round_id: str) -> KitAnswer:
        """Close a round without moving money."""
        player = self.player

        return await self.client.end_round(
            player=player.ref,
            currency=player.currency,
            round_id=round_id,
            session_token=player.session_token,
        )


def _config_data(
    declared: AdapterUnderTest,
    settings: Mapping[str, Any],
    database: Path,
    api_key: str,
) -> dict[str, Any]:
    return {
        "database": f"sqlite:///{database}",
        "wallet": {"mode": "builtin"},
        "currencies": declared.configured_exponents(),
        "operators": [{"name": OPERATOR, "api_keys": [api_key]}],
        "providers": {INSTANCE: {"adapter": declared.adapter, **settings}},
    }
