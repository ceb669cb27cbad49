"""Time as the gateway stores it: aware UTC datetimes, fixed-width ISO text."""

from __future__ import annotations

from datetime import UTC, datetime

_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def now() -> datetime:
    """Return the current time in UTC."""
    return datetime.now(UTC)


def to_text(moment: datetime) -> str:
    """Render a UTC datetime as fixed-width text that sorts chronologically."""
    return moment.astimezone(UTC).strftime(_FORMAT)


def from_text(text: str) -> datetime:
    """Parse text written by `to_text` back into an aware UTC datetime."""
    return datetime.strptime(text, _FORMAT).replace(tzinfo=UTC)
