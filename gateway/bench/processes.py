"""The benchmark's processes: started on given cores, watched, stopped.

Every server under test runs as a process of its own, started with an
affinity mask so the server and the load generator do not share a core.
While a scenario runs, `Watch` samples the resident memory of the server's
processes from `/proc` and the machine's CPU time, so the report can say
how much of the machine other programs took during the run.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

READY_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
SAMPLE_SECONDS = 0.1
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


class BenchError(Exception):
    """The benchmark cannot go on; the message says what to do."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def usable_cores() -> list[int]:
    """Return the cores this process may run on, in order."""
    return sorted(os.sched_getaffinity(0))


class Service:
    """A process started with an affinity mask, its output kept in a log file.

    Use as a context manager: it waits until `ready_url` answers (or the port
    accepts) and stops the process, then its children, on exit.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_dir: Path,
        *,
        cores: set[int] | None = None,
        env: Mapping[str, str] | None = None,
        ready_url: str | None = None,
        port: int | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_dir / f"{name}.log"
        self.cores = cores
        self.env = dict(env) if env is not None else None
        self.ready_url = ready_url
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        """The process id; the service must be running."""
        assert self.process is not None
        return self.process.pid

    def __enter__(self) -> Service:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Start the process and wait until it answers."""
        cores = self.cores

        def pin() -> None:
            if cores:
                os.sched_setaffinity(0, cores)

        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                preexec_fn=pin,
                start_new_session=True,
            )
        self._wait_ready()

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL) and any children it left."""
        if self.process is None or self.process.poll() is not None:
            return
        children = child_pids(self.process.pid)
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for child in children:
            _kill_if_alive(child)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise BenchError(
                    f"{self.name} exited with {self.process.returncode};"
                    f" see {self.log_path}"
                )
            if self._answers():
                return
            time.sleep(0.05)
        self.stop()
        raise BenchError(f"{self.name} did not answer in {READY_TIMEOUT:.0f}s")

    def _answers(self) -> bool:
        if self.ready_url is not None:
            try:
                with urllib.request.urlopen(self.ready_url, timeout=1.0) as answer:
                    return bool(answer.status == 200)
            except (urllib.error.URLError, OSError):
                return False
        if self.port is not None:
            with socket.socket() as probe:
                return probe.connect_ex(("127.0.0.1", self.port)) == 0
        return True


def _kill_if_alive(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return


def child_pids(pid: int) -> list[int]:
    """Return the ids of the processes whose parent is `pid`."""
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name, in parentheses, may itself hold spaces.
        fields = stat.rsplit(")", 1)[-1].split()
        if int(fields[1]) == pid:
            children.append(int(entry.name))

    return children


def rss_bytes(pid: int) -> int:
    """Return a process's resident memory in bytes, or 0 once it is gone."""
    try:
        pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0
    return pages * _PAGE_BYTES


def cpu_seconds(pid: int) -> float:
    """Return the CPU time a process has used (user and system), in seconds."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def tree_cpu_seconds(pid: int) -> float:
    """Return the CPU time of a process and its children, in seconds."""
    return cpu_seconds(pid) + sum(cpu_seconds(child) for child in child_pids(pid))


def machine_busy_seconds() -> float:
    """Return the CPU time every core of the machine has spent busy, in seconds."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, idle, iowait, irq, softirq, steal = (
        int(value) for value in fields[:8]
    )
    del idle, iowait

    return (user + nice + system + irq + softirq + steal) / _CLOCK_TICKS


@dataclass
class Watch:
    """Samples the memory of some processes and the machine's CPU while it runs.

    `pids` are the server's processes, whose memory is reported; `ours` are
    every process of the benchmark, whose CPU time is subtracted from the
    machine's to tell what other programs used meanwhile.
    """

    pids: list[int]
    ours: list[int]
    samples: list[tuple[float, int]] = field(default_factory=list)
    peak_rss: int = 0
    others_cpu: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _began: float = 0.0
    _busy: float = 0.0
    _ours: float = 0.0

    def __enter__(self) -> Watch:
        self._began = time.monotonic()
        self._busy = machine_busy_seconds()
        self._ours = self._our_cpu()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join()
        elapsed = time.monotonic() - self._began
        others = (machine_busy_seconds() - self._busy) - (self._our_cpu() - self._ours)
        self.others_cpu = max(0.0, others / elapsed) if elapsed else 0.0

    def _our_cpu(self) -> float:
        # Our own CPU includes this process and the children it waited for.
        times = os.times()
        own = times.user + times.system + times.children_user + times.children_system
        return own + sum(cpu_seconds(pid) for pid in self._all_ours())

    def _all_ours(self) -> set[int]:
        pids = set(self.ours)
        for pid in self.ours:
            pids.update(child_pids(pid))
        return pids

    def _sample(self) -> None:
        tracked = list(self.pids)
        for pid in self.pids:
            tracked.extend(child_pids(pid))
        while not self._stop.wait(SAMPLE_SECONDS):
            total = sum(rss_bytes(pid) for pid in tracked)
            self.samples.append((time.monotonic() - self._began, total))
            self.peak_rss = max(self.peak_rss, total)
