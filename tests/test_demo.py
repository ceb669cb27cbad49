"""`gamegate demo` end to end: real rounds on loopback and a balanced ledger."""

from __future__ import annotations

import io
import subprocess
import sys

from rich.console import Console

from gateway.demo import run_demo


def test_demo_plays_rounds_and_the_ledger_balances() -> None:
    """The demo plays its rounds, prints the table and every check holds."""
    output = io.StringIO()

    code = run_demo(rounds=12, seed=3, console=Console(file=output, width=120))

    text = output.getvalue()
    assert code == 0, text
    assert "FAIL" not in text
    assert "start 50.00 + credits" in text
    assert "bet refused, rolled back" in text
    assert "answered as a replay" in text
    assert "after the config edit the game launched on studio-via-hub" in text


def test_demo_command_exits_zero_from_a_fresh_process() -> None:
    """`gamegate demo` run as a command prints the round table and exits 0."""
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "demo", "--rounds", "6"],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert "balance after" in done.stdout
    assert "no transaction applied twice" in done.stdout


def test_demo_through_the_casinos_own_wallet_balances() -> None:
    """`--wallet operator` plays through the reference wallet and balances."""
    output = io.StringIO()

    code = run_demo(
        rounds=8, seed=5, console=Console(file=output, width=120), wallet="operator"
    )

    text = output.getvalue()
    assert code == 0, text
    assert "the casino's wallet funded the demo player" in text
    assert "FAIL" not in text
