"""`gamegate demo --payments`: deposits, a fallback, play and a payout all hold."""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Iterator

import pytest
import structlog
from rich.console import Console

from gateway.payments_demo import run_payments_demo


@pytest.fixture(autouse=True)
def _logging_restored() -> Iterator[None]:
    # The demo configures logging for a terminal at warning level; the tests
    # after this one expect the configuration they found.
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


def test_payments_demo_passes_every_check() -> None:
    """The demo falls back once, credits and reserves exactly, and prints histories."""
    output = io.StringIO()

    code = run_payments_demo(rounds=4, seed=3, console=Console(file=output, width=140))

    text = output.getvalue()
    assert code == 0, text
    assert "FAIL" not in text
    assert "fell back to trustly-eu" in text
    assert "processing -> paid (webhook)" in text


def test_payments_demo_refuses_the_operator_wallet() -> None:
    """`--payments` runs with the built-in wallet only, and says so."""
    finished = subprocess.run(
        [sys.executable, "-m", "gateway", "demo", "--payments", "--wallet", "operator"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert finished.returncode == 2
    assert "built-in wallet" in finished.stderr
