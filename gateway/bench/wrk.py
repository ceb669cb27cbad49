"""Saturation runs with wrk: how many requests a second a server answers at most.

wrk is a closed loop in C, one thread here on the load generator's core: it
keeps `connections` requests in flight and sends the next as soon as one is
answered, so the server, not the generator, sets the pace. Every request
comes from a file of pre-signed requests (`gateway.bench.bodies`) through
`examples/bench/signed_bodies.lua`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import examples
from gateway.bench.processes import BenchError

INSTALL_HINT = "sudo apt-get install -y wrk   (or run examples/bench/setup.sh)"
SCRIPT = Path(examples.__file__).parent / "bench" / "signed_bodies.lua"

_RATE = re.compile(r"^Requests/sec:\s+([0-9.]+)", re.MULTILINE)
_SENT = re.compile(r"^bench: sent=(\d+) wrapped=(\d+)", re.MULTILINE)
_SUMMARY = re.compile(
    r"^bench: requests=(\d+) duration_us=(\d+) non2xx=(\d+)", re.MULTILINE
)
_SOCKET_ERRORS = re.compile(
    r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)"
)


@dataclass(frozen=True, slots=True)
class WrkResult:
    """What one wrk run answered: its rate, errors, and any repeated requests."""

    requests: int
    seconds: float
    rate: float
    non_2xx: int
    socket_errors: int
    wrapped: int


def find_wrk() -> str:
    """Return the path of wrk, or raise `BenchError` saying how to install it."""
    path = shutil.which("wrk")
    if path is None:
        raise BenchError(f"wrk is not installed; install it with: {INSTALL_HINT}")
    if not SCRIPT.is_file():
        raise BenchError(f"the wrk script {SCRIPT} is missing; run from a checkout")
    return path


def wrk_command(
    wrk: str,
    url: str,
    requests_file: Path,
    header: str,
    *,
    seconds: float,
    connections: int,
    threads: int = 1,
) -> list[str]:
    """Return the wrk command line of one saturation run."""
    return [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(SCRIPT),
        url,
        "--",
        str(requests_file),
        header,
    ]


def run_wrk(command: list[str], cores: set[int] | None) -> WrkResult:
    """Run wrk to the end and read its result."""

    def pin() -> None:
        if cores:
            os.sched_setaffinity(0, cores)

    completed = subprocess.run(
        command, capture_output=True, text=True, preexec_fn=pin, check=False
    )
    if completed.returncode != 0:
        raise BenchError(f"wrk failed: {completed.stderr.strip()[:400]}")

    return parse_wrk(completed.stdout)


def parse_wrk(output: str) -> WrkResult:
    """Read wrk's output and the lines `signed_bodies.lua` adds to it."""
    summary = _SUMMARY.search(output)
    sent = _SENT.search(output)
    rate = _RATE.search(output)
    if summary is None or sent is None or rate is None:
        raise BenchError(f"wrk's output is not what was expected: {output[:400]!r}")
    errors = _SOCKET_ERRORS.search(output)
    socket_errors = sum(int(n) for n in errors.groups()) if errors else 0

    return WrkResult(
        requests=int(summary[1]),
        seconds=int(summary[2]) / 1e6,
        rate=float(rate[1]),
        non_2xx=int(summary[3]),
        socket_errors=socket_errors,
        wrapped=int(sent[2]),
    )
