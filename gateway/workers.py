"""`gamegate serve --workers N`: N processes serving one port, one set of metrics.

The parent applies the migrations once, reserves the port, and starts N
workers, each a fresh `gamegate serve --worker` that binds the same port with
SO_REUSEPORT, so the kernel spreads connections across them. The parent sets
`PROMETHEUS_MULTIPROC_DIR` to a fresh folder before they start: each worker
keeps its metrics in files there, and `/metrics`, whichever worker answers
it, reads them all. The parent forwards SIGTERM, SIGINT and SIGHUP (reload)
to the workers; if one dies on its own, it stops the rest and exits non-zero
rather than serve on with fewer than it was asked for.

Several processes need a database several processes can write at once:
PostgreSQL. SQLite takes one write lock per file, so workers on SQLite would
take turns; `check_workers` refuses that configuration.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import structlog
from aiohttp import web
from prometheus_client import multiprocess

from contracts.errors import ConfigError
from gateway import db
from gateway.config import Config
from gateway.metrics import MULTIPROCESS_VARIABLE

log = structlog.get_logger(__name__)

STOP_SECONDS = 20.0
WAIT_SECONDS = 0.1
PARENT_CHECK_SECONDS = 1.0
_FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def check_workers(config: Config, workers: int) -> None:
    """Refuse a number of workers the configured database cannot serve."""
    if workers > 1 and db.dialect_of(config.database) == db.SqliteDatabase.dialect:
        raise ConfigError(
            f"database: --workers {workers} needs PostgreSQL; SQLite lets one"
            " process write at a time, so the workers would wait on its single"
            " write lock in turn instead of working side by side. Set database"
            " to a postgresql:// URL, or run one worker"
        )


def run_workers(
    config_path: Path, config: Config, *, host: str, port: int, workers: int
) -> int:
    """Serve with `workers` processes until stopped; return the exit status."""
    db.upgrade(config.database)
    with (
        tempfile.TemporaryDirectory(prefix="gamegate-metrics-") as folder,
        reserved_port(host, port) as bound,
    ):
        environ = {**os.environ, MULTIPROCESS_VARIABLE: folder}
        command = [
            sys.executable,
            "-m",
            "gateway",
            "serve",
            "--config",
            str(config_path),
            "--host",
            host,
            "--port",
            str(bound),
            "--worker",
        ]
        # A session of their own: a terminal's Ctrl-C reaches the parent
        # alone, which stops the workers once, in order.
        children = {
            child.pid: child
            for child in (
                subprocess.Popen(command, env=environ, start_new_session=True)
                for _ in range(workers)
            )
        }
        log.info("gateway.workers.started", port=bound, workers=sorted(children))

        return _supervise(children, folder)


@contextmanager
def reserved_port(host: str, port: int) -> Iterator[int]:
    """Hold `host:port` (a free one for 0) for the workers; yield the port.

    The socket is bound with SO_REUSEPORT and never listens, so it keeps the
    port from other programs while the workers, binding the same way,
    share it; only listening sockets are given connections.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:
            holder.bind((host, port))
        except OSError as error:
            raise ConfigError(
                f"listen: cannot bind {host}:{port}: {error.strerror}"
            ) from None
        yield int(holder.getsockname()[1])


def _supervise(children: dict[int, subprocess.Popen[bytes]], folder: str) -> int:
    stop_by: float | None = None

    def stop_all() -> None:
        nonlocal stop_by
        if stop_by is None:
            stop_by = time.monotonic() + STOP_SECONDS
        for child in children.values():
            _signal(child, signal.SIGTERM)

    def forward(number: int, frame: FrameType | None) -> None:
        if number == signal.SIGHUP:
            for child in children.values():
                _signal(child, signal.SIGHUP)
        else:
            stop_all()

    previous = {number: signal.signal(number, forward) for number in _FORWARDED}
    status = 0
    try:
        while children:
            pid, code = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                # A worker told to stop during its own start-up may never
                # finish shutting down; past the grace period it is killed.
                if stop_by is not None and time.monotonic() > stop_by:
                    for child in children.values():
                        _signal(child, signal.SIGKILL)
                time.sleep(WAIT_SECONDS)
                continue
            if pid not in children:
                continue
            child = children.pop(pid)
            child.returncode = os.waitstatus_to_exitcode(code)
            # Its live gauges go with it; its counters stay in the sums.
            multiprocess.mark_process_dead(pid, folder)  # type: ignore[no-untyped-call]
            if stop_by is None:
                log.error("gateway.worker.died", pid=pid, status=child.returncode)
                status = 1
                stop_all()
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)

    return status


def stop_with_parent(app: web.Application) -> None:
    """Make a worker stop itself once the process that started it is gone.

    A parent killed outright (SIGKILL) cannot stop its workers; they would
    go on holding the port with nobody to restart or stop them.
    """
    parent = os.getppid()

    async def watching(app: web.Application) -> AsyncIterator[None]:
        watcher = asyncio.create_task(_watch_parent(parent))
        yield
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher

    app.cleanup_ctx.append(watching)


async def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        await asyncio.sleep(PARENT_CHECK_SECONDS)
    log.warning("gateway.worker.orphaned", parent=parent)
    os.kill(os.getpid(), signal.SIGTERM)


def _signal(child: subprocess.Popen[bytes], number: int) -> None:
    try:
        child.send_signal(number)
    except ProcessLookupError:
        return
