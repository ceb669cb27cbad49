"""Launch requests and results, and the game descriptor an adapter lists."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Mode(StrEnum):
    """Whether a game is played for real money or for fun."""

    REAL = "real"
    DEMO = "demo"


class Device(StrEnum):
    """The kind of device the player launches from."""

    DESKTOP = "desktop"
    MOBILE = "mobile"


class LaunchRequest(BaseModel):
    """What the gateway asks an adapter to launch, already validated.

    `player` is the player reference the provider will send back in its
    callbacks; `session_token` is the gateway's token for this game session.
    """

    model_config = ConfigDict(frozen=True)

    session_token: str
    player: str
    game: str
    currency: str
    mode: Mode = Mode.REAL
    language: str = "en"
    country: str | None = None
    jurisdiction: str | None = None
    device: Device = Device.DESKTOP
    ip: str | None = None
    lobby_url: str | None = None
    cashier_url: str | None = None


class LaunchResult(BaseModel):
    """The provider's answer to a launch: where to send the player."""

    model_config = ConfigDict(frozen=True)

    url: str
    provider_session_id: str | None = None
    expires_at: datetime | None = None


class GameDescriptor(BaseModel):
    """One game as a provider lists it."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    studio: str
    category: str = "slots"
    demo: bool = True
    free_rounds: bool = False
    currencies: tuple[str, ...] = Field(default_factory=tuple)
