"""Configuration: interpolation, validation, and errors that name the key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from contracts.errors import ConfigError
from gateway.config import load_config, parse_config
from gateway.plugins import AdapterRegistry, load_adapters

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "config.yaml"
ENVIRON = {"GAMEGATE_CASINO_KEY": "k" * 24, "STUDIO_AUTH_TOKEN": "studio-secret"}


@pytest.fixture(scope="module")
def registry() -> AdapterRegistry:
    """The adapters installed with gamegate."""
    return load_adapters()


def example() -> dict[str, object]:
    """Return the example config as data."""
    data: dict[str, object] = yaml.safe_load(EXAMPLE.read_text())
    return data


def test_example_config_loads_with_secrets_from_the_environment(
    registry: AdapterRegistry,
) -> None:
    """The shipped example config validates once its variables are set."""
    config = load_config(EXAMPLE, registry, ENVIRON)

    settings = config.providers["studio-direct"].settings
    assert settings.auth_token.get_secret_value() == "studio-secret"  # type: ignore[attr-defined]
    assert config.operator_for_key("k" * 24) == "casino-a"
    assert "studio-secret" not in repr(config)


def edit(path: str, value: object) -> dict[str, object]:
    """Return the example config with one key set, or removed by KeyError."""
    data = example()
    *parents, last = path.split(".")
    node: object = data
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]  # type: ignore[index]
    if value is KeyError:
        del node[last]  # type: ignore[attr-defined]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value  # type: ignore[index]
    return data


@pytest.mark.parametrize(
    ("data", "named"),
    [
        (
            edit("providers.studio-direct.adapter", "nosuch"),
            "providers.studio-direct.adapter",
        ),
        (
            edit("providers.studio-direct.auth_token", KeyError),
            "providers.studio-direct.auth_token",
        ),
        (
            edit("providers.studio-direct.base_url", "ftp://x"),
            "providers.studio-direct.base_url",
        ),
        (
            edit("providers.studio-direct.colour", "blue"),
            "providers.studio-direct.colour",
        ),
        (edit("listen.port", "eighty"), "listen.port"),
        (edit("wallet.mode", "moon"), "wallet.mode"),
        (edit("wallet", {"mode": "operator", "secret": "s" * 20}), "wallet.url"),
        (
            edit("wallet", {"mode": "operator", "url": "http://x", "secret": "short"}),
            "wallet.secret",
        ),
        (edit("operators.0.api_keys", ["short"]), "operators.0.api_keys"),
        (edit("routes.games.0.use", "nowhere"), "routes.games.0.use"),
        (edit("currencies", {"BTC": "eight"}), "currencies.BTC"),
        (edit("limits", {"max_body_bytes": 10}), "limits.max_body_bytes"),
        (edit("spelling_mistake", 1), "spelling_mistake"),
        (edit("currencies", {"EUR": 0}), "currencies"),
        (edit("currencies", {"BTC": True}), "currencies.BTC"),
        (edit("database", "mysql://db/x"), "database"),
        (edit("sessions", {"ttl_seconds": 10**12}), "sessions.ttl_seconds"),
        (edit("operators.0.api_keys", [" " * 20]), "operators.0.api_keys"),
        (
            edit(
                "operators",
                [
                    {"name": "casino-a", "api_keys": ["k" * 24]},
                    {"name": "casino-a", "api_keys": ["j" * 24]},
                ],
            ),
            "operators",
        ),
        (
            edit(
                "operators",
                [
                    {"name": "casino-a", "api_keys": ["k" * 24]},
                    {"name": "casino-b", "api_keys": ["k" * 24]},
                ],
            ),
            "operators",
        ),
    ],
)
def test_invalid_config_names_the_key_path(
    registry: AdapterRegistry, data: dict[str, object], named: str
) -> None:
    """Each fault in the file is reported with the path of the key at fault."""
    with pytest.raises(ConfigError) as raised:
        parse_config(data, registry, ENVIRON)

    assert named in raised.value.message


def test_missing_environment_variable_names_key_and_variable(
    registry: AdapterRegistry,
) -> None:
    """A `${VAR}` that is not set names both the key and the variable."""
    with pytest.raises(ConfigError) as raised:
        load_config(EXAMPLE, registry, {"GAMEGATE_CASINO_KEY": "k" * 24})

    assert "providers.studio-direct.auth_token" in raised.value.message
    assert "STUDIO_AUTH_TOKEN" in raised.value.message


def test_unknown_currency_code_in_table_is_refused(registry: AdapterRegistry) -> None:
    """A configured exponent must belong to a plausible currency code."""
    with pytest.raises(ConfigError) as raised:
        parse_config(edit("currencies", {"btc": 8}), registry, ENVIRON)

    assert "currencies" in raised.value.message


def test_serve_refuses_to_start_on_invalid_config_and_names_the_key(
    tmp_path: Path,
) -> None:
    """`gamegate serve` exits non-zero with the key path on standard error."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(edit("listen.port", "eighty")))

    done = subprocess.run(
        [sys.executable, "-m", "gateway", "serve", "--config", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"GAMEGATE_CASINO_KEY": "k" * 24, "STUDIO_AUTH_TOKEN": "s", "PATH": ""},
    )

    assert done.returncode == 2
    assert "listen.port" in done.stderr
