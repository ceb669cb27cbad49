"""The interface every game-provider adapter implements.

An adapter is a translator and holds no state: it reads a provider callback
into a `WalletRequest`, renders the ledger's `WalletOutcome` back in the
provider's protocol, and calls the provider's API to launch games. Every
money rule lives once in the gateway's ledger.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Literal

import httpx
from pydantic import BaseModel, ConfigDict

from contracts.errors import GamegateError
from contracts.launch import GameDescriptor, LaunchRequest, LaunchResult
from contracts.money import CurrencyTable
from contracts.wallet import Operation, Profile, WalletOutcome, WalletRequest

CONTRACT_VERSION = "1.0"


class AdapterConfig(BaseModel):
    """Base of every adapter's config model; unknown keys are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class Capabilities:
    """What an adapter supports, declared once and shown by `gamegate adapters`.

    `currencies` None means every currency the gateway's table knows.
    """

    operations: frozenset[Operation]
    signature: str
    money_format: str
    currencies: frozenset[str] | None = None
    demo: bool = False
    free_rounds: bool = False


@dataclass(frozen=True, slots=True)
class Callback:
    """A provider's request as it arrived, below `/providers/{instance}/`."""

    path: str
    method: str
    headers: Mapping[str, str]
    query: Mapping[str, str]
    body: bytes
    remote: str | None = None


@dataclass(frozen=True, slots=True)
class CallbackAnswer:
    """The HTTP answer an adapter renders for a provider."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AdapterContext:
    """What the gateway hands an adapter instance: its name, currencies, client."""

    instance: str
    currencies: CurrencyTable
    http: httpx.AsyncClient


class GameAdapter(ABC):
    """A game provider's protocol behind the normalized contract."""

    name: ClassVar[str]
    version: ClassVar[str] = "0.0.0"
    kind: ClassVar[Literal["game"]] = "game"
    contract_version: ClassVar[str] = CONTRACT_VERSION
    config_model: ClassVar[type[AdapterConfig]]
    capabilities: ClassVar[Capabilities]
    profile: ClassVar[Profile] = Profile()
    callback_paths: ClassVar[tuple[str, ...]]

    def __init__(self, config: AdapterConfig, context: AdapterContext) -> None:
        self.config = config
        self.context = context

    @abstractmethod
    def parse_callback(self, callback: Callback) -> WalletRequest:
        """Verify a callback over its raw bytes and read it into a request.

        Raises `InvalidSignature` before reading anything else, and
        `BadRequest` (or a subclass) for a body the protocol does not allow.
        """

    @abstractmethod
    def render_outcome(
        self, callback: Callback, request: WalletRequest, outcome: WalletOutcome
    ) -> CallbackAnswer:
        """Render the ledger's outcome as the provider's own answer."""

    @abstractmethod
    def render_error(self, callback: Callback, error: GamegateError) -> CallbackAnswer:
        """Render an error raised before the ledger was reached."""

    @abstractmethod
    async def launch(self, request: LaunchRequest) -> LaunchResult:
        """Ask the provider for a game URL; raises `ProviderError` on failure."""

    async def list_games(self) -> Sequence[GameDescriptor]:
        """Return the provider's games; adapters without a game list return none."""
        return ()
