"""Tests of `gamegate serve --workers N`: refused on SQLite, shared on PostgreSQL."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

STARTUP_SECONDS = 30.0


def serve_command(config: Path) -> list[str]:
    """Return the command line of two workers serving one config."""
    return [
        sys.executable,
        "-m",
        "gateway",
        "serve",
        "--config",
        str(config),
        "--workers",
        "2",
    ]


def write_config(folder: Path, database: str, port: int = 0) -> Path:
    """Write a minimal gateway config on `database`; return its path."""
    path = folder / "gamegate.yaml"
    path.write_bytes(
        orjson.dumps(
            {
                "database": database,
                "listen": {"host": "127.0.0.1", "port": port},
                "logging": {"format": "json", "level": "warning"},
                "operators": [{"name": "casino-a", "api_keys": ["k" * 24]}],
                "providers": {
                    "studio": {
                        "adapter": "softswiss",
                        "base_url": "http://127.0.0.1:9",
                        "auth_token": "token",
                        "casino_id": "casino-a",
                    }
                },
            }
        )
    )
    return path


def free_port() -> int:
    """Return a port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def worker_samples(text: str) -> dict[str, float]:
    """Return each worker's answered requests from a `/metrics` page, by pid."""
    return {
        sample.labels["pid"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "gateway_worker_requests"
    }


def request_count(text: str, route: str) -> float:
    """Return the summed `http_requests_total` of one route."""
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "http_requests_total" and sample.labels["route"] == route
    )


class TestRefused:
    def test_sqlite_with_two_workers_names_the_database_key(self, tmp_path: Path):
        """Two workers on SQLite are refused, naming `database` and PostgreSQL."""
        config = write_config(tmp_path, f"sqlite:///{tmp_path / 'gamegate.db'}")

        # A process of its own: `serve` configures logging for the whole process.
        result = subprocess.run(
            serve_command(config), capture_output=True, text=True, timeout=60
        )

        assert result.returncode == 2
        assert "invalid config: database:" in result.stderr
        assert "PostgreSQL" in result.stderr
        assert "write lock" in result.stderr
        assert not (tmp_path / "gamegate.db").exists()


@dataclass(frozen=True)
class Workers:
    """A running `gamegate serve --workers 2`: its URL and its parent process."""

    url: str
    parent: subprocess.Popen[bytes]


@pytest.fixture
def two_workers(postgres_url: str, tmp_path: Path) -> Iterator[Workers]:
    """Two workers on a fresh PostgreSQL schema; every process is gone after."""
    port = free_port()
    config = write_config(tmp_path, postgres_url, port)
    log = (tmp_path / "serve.log").open("wb")
    parent = subprocess.Popen(serve_command(config), stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_healthy(url, parent)
        yield Workers(url, parent)
    finally:
        children = _children(parent.pid)
        parent.send_signal(signal.SIGTERM)
        try:
            parent.wait(30)
        except subprocess.TimeoutExpired:
            parent.kill()
            parent.wait()
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        log.close()


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text().rsplit(")", 1)[-1].split()
                if int(stat[1]) == pid:
                    found.append(int(entry.name))
    return found


def _wait_until_healthy(url: str, parent: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        assert parent.poll() is None, "the gateway exited during start-up"
        try:
            if httpx.get(url + "/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("the workers did not answer in time")


def _reach_both(url: str) -> tuple[set[int], int]:
    """Send fresh connections until both workers answered; return pids and count."""
    sent = 0
    seen: dict[str, float] = {}
    while len(seen) < 2 and sent < 400:
        for _ in range(20):
            # A new connection each time: SO_REUSEPORT spreads connections,
            # not requests, across the workers.
            with httpx.Client(base_url=url) as client:
                assert client.get("/healthz").status_code == 200
            sent += 1
        page = httpx.get(url + "/metrics").text
        seen = {pid: n for pid, n in worker_samples(page).items() if n > 0}

    return {int(pid) for pid in seen}, sent


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0] != "Z"


class TestTwoWorkers:
    def test_both_workers_serve_and_metrics_add_up(self, two_workers: Workers):
        """Fresh connections reach two processes, and /metrics sums both."""
        pids, sent = _reach_both(two_workers.url)

        page = httpx.get(two_workers.url + "/metrics").text

        assert len(pids) == 2
        assert two_workers.parent.pid not in pids
        assert request_count(page, "/healthz") >= sent
        assert sum(worker_samples(page).values()) >= sent

    def test_sigterm_stops_every_worker(self, two_workers: Workers):
        """SIGTERM to the parent stops both workers and exits cleanly."""
        pids, _ = _reach_both(two_workers.url)

        two_workers.parent.send_signal(signal.SIGTERM)

        assert two_workers.parent.wait(30) == 0
        assert not any(_alive(pid) for pid in pids)
        with pytest.raises(httpx.TransportError):
            httpx.get(two_workers.url + "/healthz", timeout=1.0)

    def test_workers_stop_when_their_parent_is_killed(self, two_workers: Workers):
        """Workers whose parent died by SIGKILL stop themselves, freeing the port."""
        pids, _ = _reach_both(two_workers.url)

        two_workers.parent.kill()
        two_workers.parent.wait()

        deadline = time.monotonic() + STARTUP_SECONDS
        while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(pid) for pid in pids)
