"""Tests of the logging configuration: JSON lines, context, scrubbed secrets."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import orjson
import pytest
import structlog
from pydantic import BaseModel, SecretStr

from contracts import ConfigError
from gateway.logs import REDACTED, configure_logging, scrub, scrub_secrets

SECRET = "s3cr3t-value"


class ProviderSettings(BaseModel):
    """A provider's settings with a secret, as configuration holds them."""

    base_url: str
    auth_token: SecretStr


@pytest.fixture
def output() -> Iterator[io.StringIO]:
    """Capture what the logging configuration writes, and undo it afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    stream = io.StringIO()

    yield stream

    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def lines(output: io.StringIO) -> Callable[[], list[dict[str, Any]]]:
    """Configure JSON logging and return a reader of the lines written so far."""
    configure_logging("json", "debug", stream=output)
    return lambda: [orjson.loads(line) for line in output.getvalue().splitlines()]


class TestJsonLines:
    def test_bound_request_id_on_every_line(self, lines: Any) -> None:
        """A request id bound as context appears on every line, one object each."""
        structlog.contextvars.bind_contextvars(request_id="req-42")
        log = structlog.get_logger("gateway.test")

        log.info("wallet.debit.applied", provider="studio-direct")
        log.warning("wallet.credit.refused", provider="studio-direct")

        first, second = lines()
        assert first["request_id"] == second["request_id"] == "req-42"
        assert first["event"] == "wallet.debit.applied"
        assert (first["level"], second["level"]) == ("info", "warning")
        assert datetime.fromisoformat(first["timestamp"]).tzinfo is not None

    def test_exception_rendered_as_text(self, lines: Any) -> None:
        """`log.exception` renders the traceback into the line's `exception`."""
        log = structlog.get_logger("gateway.test")
        try:
            raise ValueError("bad amount")
        except ValueError:
            log.exception("callback.failed")

        (line,) = lines()
        assert "ValueError: bad amount" in line["exception"]
        assert "Traceback" in line["exception"]

    def test_values_json_cannot_hold_are_rendered(self, lines: Any) -> None:
        """Values orjson cannot encode (huge ints, objects) still make a line."""
        log = structlog.get_logger("gateway.test")

        log.info("odd.values", thing=object(), keys={1: "one"})
        log.info("odd.values", huge=2**80)

        objects, wide = lines()
        assert objects["thing"].startswith("<object object")
        assert objects["keys"] == {"1": "one"}
        assert wide["huge"] == 2**80

    def test_standard_library_records_share_the_format(
        self, lines: Any, output: io.StringIO
    ) -> None:
        """Standard-library warnings become JSON lines; their info is dropped."""
        structlog.contextvars.bind_contextvars(request_id="req-7")

        logging.getLogger("aiohttp.access").info("GET /metrics 200")
        logging.getLogger("aiohttp.server").error("Error handling request")

        (line,) = lines()
        assert line["event"] == "Error handling request"
        assert line["logger"] == "aiohttp.server"
        assert line["level"] == "error"
        assert line["request_id"] == "req-7"


class TestLevels:
    def test_below_level_is_dropped(self, output: io.StringIO) -> None:
        """Events below the configured level write nothing."""
        configure_logging("json", "warning", stream=output)
        log = structlog.get_logger("gateway.test")

        log.info("quiet")
        log.warning("loud")

        assert [orjson.loads(x)["event"] for x in output.getvalue().splitlines()] == [
            "loud"
        ]

    def test_unknown_level_is_refused(self, output: io.StringIO) -> None:
        """An unknown level name is a configuration error."""
        with pytest.raises(ConfigError, match="unknown log level 'verbose'"):
            configure_logging("json", "verbose", stream=output)

    def test_unknown_format_is_refused(self, output: io.StringIO) -> None:
        """An unknown format name is a configuration error."""
        with pytest.raises(ConfigError, match="unknown log format 'xml'"):
            configure_logging("xml", stream=output)  # type: ignore[arg-type]


class TestConsole:
    def test_console_is_readable_and_plain_off_a_terminal(
        self, output: io.StringIO
    ) -> None:
        """Console format writes event and keys, uncoloured when not a terminal."""
        configure_logging("console", "info", stream=output)
        structlog.contextvars.bind_contextvars(request_id="req-9")

        structlog.get_logger("gateway.test").info("session.launched", token=SECRET)

        text = output.getvalue()
        assert "session.launched" in text
        assert "request_id=req-9" in text
        assert SECRET not in text
        assert "\x1b[" not in text


class TestScrubbing:
    @pytest.mark.parametrize(
        "key",
        [
            "token",
            "session_token",
            "auth_token",
            "secret",
            "client_secret",
            "password",
            "signature",
            "X-Signature",
            "sign",
            "X-REQUEST-SIGN",
            "api_key",
            "apiKey",
            "X-API-Key",
            "Authorization",
            "private_key",
            "hash",
            "Cookie",
        ],
    )
    def test_secret_keys_at_top_level(self, lines: Any, key: str) -> None:
        """A value under a secret-looking key is replaced, whatever its case."""
        structlog.get_logger("gateway.test").info("callback.received", **{key: SECRET})

        (line,) = lines()
        assert line[key] == REDACTED
        assert SECRET not in str(line)

    def test_secret_keys_nested(self, lines: Any) -> None:
        """Secrets inside nested mappings and lists are replaced too."""
        payload = {
            "headers": {"Authorization": f"Bearer {SECRET}", "Accept": "json"},
            "body": {"player": "p-1", "auth": {"hash": SECRET}},
            "batch": [{"signature": SECRET, "amount": "8.20"}],
        }

        structlog.get_logger("gateway.test").info("callback.received", **payload)

        (line,) = lines()
        assert line["headers"] == {"Authorization": REDACTED, "Accept": "json"}
        assert line["body"] == {"player": "p-1", "auth": {"hash": REDACTED}}
        assert line["batch"] == [{"signature": REDACTED, "amount": "8.20"}]

    def test_bound_context_is_scrubbed(self, lines: Any) -> None:
        """A secret bound as context is replaced like any other value."""
        structlog.contextvars.bind_contextvars(session_token=SECRET)

        structlog.get_logger("gateway.test").info("session.checked")

        (line,) = lines()
        assert line["session_token"] == REDACTED

    def test_secret_str_never_printed(self, lines: Any) -> None:
        """A SecretStr is replaced under any key, and never shows its value."""
        settings = ProviderSettings(base_url="http://p", auth_token=SecretStr(SECRET))
        log = structlog.get_logger("gateway.test")

        log.info("config.loaded", value=SecretStr(SECRET), items=[SecretStr(SECRET)])
        log.info("config.loaded", settings=settings, dumped=settings.model_dump())

        first, second = lines()
        assert first["value"] == REDACTED
        assert first["items"] == [REDACTED]
        assert second["dumped"] == {"base_url": "http://p", "auth_token": REDACTED}
        assert SECRET not in str(first) + str(second)

    def test_caller_data_left_untouched(self, lines: Any) -> None:
        """Scrubbing an event never changes the mappings the caller passed in."""
        headers = {"X-Signature": SECRET}

        structlog.get_logger("gateway.test").info("callback.received", headers=headers)

        assert headers == {"X-Signature": SECRET}
        assert lines()[0]["headers"] == {"X-Signature": REDACTED}

    def test_missing_secret_shown_as_missing(self) -> None:
        """An empty or absent secret stays visible, since it reveals nothing."""
        event = {"event": "callback.refused", "signature": None, "token": ""}

        assert scrub_secrets(None, "info", event) == event

    def test_clean_event_is_not_copied(self) -> None:
        """An event with no secrets keeps its own nested objects, uncopied."""
        body = {"player": "p-1", "rounds": [{"id": "r-1"}]}
        event = {"event": "callback.received", "body": body}

        assert scrub_secrets(None, "info", event)["body"] is body


class TestScrubMapping:
    def test_scrub_returns_a_scrubbed_copy(self) -> None:
        """`scrub` copies a raw request into plain dicts and lists, secrets hidden."""
        raw = {
            "user_id": "p-1",
            "session": {"token": SECRET, "game": "g-1"},
            "actions": ({"action": "bet", "hash": SECRET},),
            "key": SecretStr(SECRET),
        }

        cleaned = scrub(raw)

        assert cleaned == {
            "user_id": "p-1",
            "session": {"token": REDACTED, "game": "g-1"},
            "actions": [{"action": "bet", "hash": REDACTED}],
            "key": REDACTED,
        }
        assert raw["session"] == {"token": SECRET, "game": "g-1"}
        assert cleaned["session"] is not raw["session"]

    def test_scrub_survives_a_cycle(self) -> None:
        """A mapping that contains itself is cut off instead of recursing forever."""
        looped: dict[str, Any] = {"player": "p-1"}
        looped["self"] = looped

        cleaned = scrub(looped)

        assert cleaned["player"] == "p-1"
        assert REDACTED in str(cleaned)
