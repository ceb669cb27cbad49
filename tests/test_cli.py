"""The `gamegate` command as an operator runs it."""

from __future__ import annotations

import subprocess
import sys

import pytest

BUILT_IN = ("softswiss", "pragmatic", "evolution", "hub88", "slotegrator")


def gamegate(*args: str) -> subprocess.CompletedProcess[str]:
    """Run `python -m gateway` with arguments and capture what it printed."""
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_adapters_lists_every_built_in_adapter_with_its_contract() -> None:
    """`gamegate adapters` names each adapter, its version, contract and file."""
    done = gamegate("adapters")

    assert done.returncode == 0, done.stderr
    for name in BUILT_IN:
        assert f"{name} 0.1.0 (contract 1.0, game)" in done.stdout
        assert f"adapters/{name}/adapter.py" in done.stdout
    assert "plugins.loaded" not in done.stdout


@pytest.mark.parametrize("rounds", ["0", "2"])
def test_demo_refuses_too_few_rounds_to_show_its_checks(rounds: str) -> None:
    """The demo needs three rounds for its retransmission and refusal."""
    done = gamegate("demo", "--rounds", rounds)

    assert done.returncode == 2
    assert "--rounds" in done.stderr
