"""Logging: structlog configured once, JSON lines or a terminal, secrets scrubbed.

Every line carries the context bound with `structlog.contextvars` (request id,
provider, operation), a level and an ISO timestamp. Values under secret-looking
keys, and every pydantic secret, are replaced before anything is rendered;
`scrub` does the same to a raw request before it is stored for audit.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
from collections.abc import Mapping
from typing import Any, Literal, TextIO

import orjson
import structlog
from pydantic import SecretBytes, SecretStr
from structlog.typing import EventDict, Processor, WrappedLogger

from contracts.errors import ConfigError

REDACTED = "***"

# Matched against the key folded to lower case without "_" or "-", so
# "X-API-Key", "api_key" and "apiKey" all read as "xapikey"/"apikey".
_SECRET_WORDS = (
    "token",
    "secret",
    "password",
    "passwd",
    "signature",
    "sign",
    "apikey",
    "authorization",
    "privatekey",
    "hash",
    "cookie",
    "credential",
)
_SECRET_TYPES = (SecretStr, SecretBytes)
_SCALARS = (str, int, float, bool, type(None))
_MAX_DEPTH = 32
_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}


def configure_logging(
    format: Literal["json", "console"] = "json",
    level: str = "info",
    *,
    stream: TextIO | None = None,
) -> None:
    """Configure structlog and the standard library's loggers for this process.

    `json` writes one JSON object per line; `console` writes aligned lines,
    coloured when `stream` (standard output by default) is a terminal. The
    standard library's loggers (aiohttp, asyncio) go through the same renderer
    at warning and above, so their info chatter, aiohttp's per-request access
    log among it, stays off the hot path.
    """
    threshold = _level(level)
    if format not in ("json", "console"):
        raise ConfigError(f"unknown log format {format!r}; use json or console")
    stream = stream or sys.stdout

    renderer = _renderer(format, stream)
    shared = _shared_processors(format)
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(threshold),
        context_class=dict,
        logger_factory=structlog.WriteLoggerFactory(file=stream),
        # Loggers are not cached: the callback path logs only refusals, and
        # an uncached logger follows every later configuration (a reload, a
        # command that logs to stderr, a test capturing the log).
        cache_logger_on_first_use=False,
    )

    _route_standard_library(
        [structlog.stdlib.add_logger_name, *shared],
        renderer,
        stream,
        max(threshold, logging.WARNING),
    )


def scrub_secrets(
    logger: WrappedLogger, method_name: str, event_dict: EventDict
) -> EventDict:
    """Replace secret values in a structlog event, nested mappings included."""
    for key, value in event_dict.items():
        if _hides(key, value):
            event_dict[key] = REDACTED
        elif not isinstance(value, _SCALARS):
            cleaned = _clean(value, 0, copy=False)
            if cleaned is not value:
                event_dict[key] = cleaned

    return event_dict


def scrub(mapping: Mapping[Any, Any]) -> dict[Any, Any]:
    """Return a copy of a raw request mapping with its secret values replaced.

    Nested mappings become dicts and sequences become lists, so the result can
    be stored as JSON for audit without touching the caller's data.
    """
    cleaned = _clean(mapping, 0, copy=True)
    assert isinstance(cleaned, dict)  # a mapping always comes back as a dict

    return cleaned


@functools.lru_cache(maxsize=4096)
def _secret_key(key: str) -> bool:
    folded = key.lower().replace("_", "").replace("-", "")
    return any(word in folded for word in _SECRET_WORDS)


def _hides(key: object, value: object) -> bool:
    # An absent or empty secret is shown as such: it leaks nothing and it is
    # the first thing to know when a signature check fails.
    return (
        isinstance(key, str)
        and _secret_key(key)
        and value is not None
        and not (isinstance(value, str | bytes) and not value)
    )


def _clean(value: object, depth: int, *, copy: bool) -> object:
    # Without `copy`, unchanged containers come back as the same object, so a
    # clean event costs a walk and no allocation.
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, _SECRET_TYPES) or depth > _MAX_DEPTH:
        return REDACTED
    if isinstance(value, Mapping):
        return _clean_mapping(value, depth + 1, copy=copy)
    if isinstance(value, list | tuple):
        items = [_clean(item, depth + 1, copy=copy) for item in value]
        if copy or any(new is not old for new, old in zip(items, value, strict=True)):
            return items if copy or isinstance(value, list) else tuple(items)

    return value


def _clean_mapping(
    mapping: Mapping[Any, Any], depth: int, *, copy: bool
) -> Mapping[Any, Any]:
    changed: dict[Any, object] = {}
    for key, value in mapping.items():
        cleaned = REDACTED if _hides(key, value) else _clean(value, depth, copy=copy)
        if copy or cleaned is not value:
            changed[key] = cleaned
    if copy:
        return changed
    if not changed:
        return mapping

    return {**mapping, **changed}


def _level(level: str) -> int:
    threshold = _LEVELS.get(level.lower())
    if threshold is None:
        raise ConfigError(
            f"unknown log level {level!r}; use one of {', '.join(_LEVELS)}"
        )

    return threshold


def _shared_processors(format: str) -> list[Processor]:
    # The scrubber runs after the context is merged, so secrets bound as
    # context are caught too, and before the exception is rendered to text.
    processors: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        scrub_secrets,
    ]
    if format == "json":
        processors.append(structlog.processors.format_exc_info)

    return processors


def _renderer(format: str, stream: TextIO) -> Processor:
    if format == "json":
        return structlog.processors.JSONRenderer(serializer=_dumps)

    # Locals stay out of tracebacks: they are where raw tokens live.
    return structlog.dev.ConsoleRenderer(
        colors=stream.isatty(),
        exception_formatter=structlog.dev.RichTracebackFormatter(show_locals=False),
    )


def _dumps(value: Any, **_: Any) -> str:
    try:
        return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        # orjson refuses integers wider than 64 bits; the standard library
        # does not, and a log line must never fail.
        return json.dumps(value, default=str, ensure_ascii=False)


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler `configure_logging` installs, so a second call replaces it."""


def _route_standard_library(
    pre_chain: list[Processor], renderer: Processor, stream: TextIO, threshold: int
) -> None:
    handler = _Handler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=pre_chain,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                renderer,
            ],
        )
    )

    root = logging.getLogger()
    for previous in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(previous)
    root.addHandler(handler)
    root.setLevel(threshold)
