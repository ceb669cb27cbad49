"""The open-loop load generator: requests at fixed times, whatever the answers do.

Debian has wrk but not wrk2, and wrk is a closed loop: each connection waits
for its answer before it sends again, so a slow server slows the load down
and hides its own stalls (coordinated omission). This generator schedules
request `i` at `start + i / rate`, sends it then whether or not earlier ones
were answered, and measures its latency from that scheduled time, not from
when it was actually sent: a stall anywhere, the generator's own included,
shows up in the latencies instead of vanishing from them. How late each
request actually left is recorded too (`send_lag`), so a generator that
cannot keep up is seen as such.

`--concurrency N` runs a closed loop instead (N requests in flight, back to
back) to measure the generator's own top rate.

    python -m gateway.bench.loadgen --url URL --requests FILE --header NAME \\
        --rate 2800 --duration 10 --out result.json
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import math
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import click
import orjson

from gateway.bench.bodies import SignedRequest, read_requests

# Requests in flight are bounded only by the pool; past it they wait for a
# connection, and that wait counts in their latency as it should.
CONNECTIONS = 256
TIMEOUT_SECONDS = 10.0
START_DELAY = 0.05


@dataclass
class LoadResult:
    """What one generator run sent and how long each answer took, in seconds."""

    mode: str
    rate: float
    duration: float
    sent: int = 0
    ok: int = 0
    failed: int = 0
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)
    send_lag: list[float] = field(default_factory=list)

    @property
    def achieved_rate(self) -> float:
        """Answered requests per second over the whole run."""
        return (self.ok + self.failed) / self.elapsed if self.elapsed else 0.0

    def to_json(self) -> bytes:
        """Serialise the result, raw samples included."""
        return orjson.dumps({**asdict(self), "achieved_rate": self.achieved_rate})

    @classmethod
    def from_json(cls, raw: bytes) -> LoadResult:
        """Read a result written by `to_json`."""
        document = orjson.loads(raw)
        document.pop("achieved_rate", None)
        # JSON has no NaN: orjson writes it as null.
        document["latencies"] = [
            math.nan if value is None else value for value in document["latencies"]
        ]
        return cls(**document)


def scheduled_offset(index: int, rate: float) -> float:
    """Return when request `index` is due, in seconds after the start."""
    return index / rate


def due_count(elapsed: float, rate: float, total: int) -> int:
    """Return how many requests are due `elapsed` seconds after the start.

    Request `i` is due at `i / rate`, so at time `t` the due ones are those
    with `i <= t * rate`; never more than `total`, never fewer than none.
    """
    if elapsed < 0:
        return 0
    return min(total, math.floor(elapsed * rate) + 1)


def planned_total(rate: float, duration: float) -> int:
    """Return how many requests a run at `rate` for `duration` seconds sends."""
    return max(1, math.floor(rate * duration))


async def open_loop(
    url: str,
    header: str,
    requests: Sequence[SignedRequest],
    rate: float,
    duration: float,
    drain: float = TIMEOUT_SECONDS,
) -> LoadResult:
    """Send requests at `rate` per second for `duration` seconds, open loop.

    After the last send it waits up to `drain` seconds for the answers.
    """
    total = planned_total(rate, duration)
    if total > len(requests):
        raise ValueError(f"{total} requests planned, only {len(requests)} prepared")
    prepared = prepare(url, header, requests[:total])
    result = LoadResult(mode="open", rate=rate, duration=duration)
    latencies = [math.nan] * total
    lags = [0.0] * total

    loop = asyncio.get_running_loop()
    pool = Pool(url)
    start = loop.time() + START_DELAY

    async def one(index: int) -> bool:
        scheduled = start + scheduled_offset(index, rate)
        lags[index] = loop.time() - scheduled
        ok = await pool.send(prepared[index])
        latencies[index] = loop.time() - scheduled
        return ok

    tasks: list[asyncio.Task[bool]] = []
    while len(tasks) < total:
        due = due_count(loop.time() - start, rate, total)
        tasks.extend(asyncio.create_task(one(i)) for i in range(len(tasks), due))
        if len(tasks) < total:
            await asyncio.sleep(
                start + scheduled_offset(len(tasks), rate) - loop.time()
            )
    done, late = await asyncio.wait(tasks, timeout=drain)
    result.elapsed = loop.time() - start
    # An answer still missing counts with the time waited so far: a lower
    # bound of its latency, so the tail shows it instead of dropping it.
    for index, task in enumerate(tasks):
        if task in late:
            task.cancel()
            latencies[index] = loop.time() - (start + scheduled_offset(index, rate))
    pool.close()

    result.sent = total
    result.ok = sum(1 for task in done if not task.cancelled() and task.result())
    result.failed = total - result.ok
    result.latencies = latencies
    result.send_lag = lags

    return result


async def closed_loop(
    url: str,
    header: str,
    requests: Sequence[SignedRequest],
    concurrency: int,
    duration: float,
) -> LoadResult:
    """Keep `concurrency` requests in flight for `duration` seconds, closed loop.

    The requests go round as often as the run needs: this mode measures the
    generator's top rate against servers that do not tell repeats apart.
    """
    prepared = prepare(url, header, requests)
    result = LoadResult(mode="closed", rate=0.0, duration=duration)
    loop = asyncio.get_running_loop()
    pool = Pool(url)
    start = loop.time()
    stop = start + duration
    cursor = itertools.cycle(prepared)

    async def worker() -> None:
        for raw in cursor:
            if loop.time() >= stop:
                return
            began = loop.time()
            ok = await pool.send(raw)
            result.latencies.append(loop.time() - began)
            result.ok += ok
            result.failed += not ok

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.elapsed = loop.time() - start
    result.sent = result.ok + result.failed
    pool.close()

    return result


def prepare(url: str, header: str, requests: Sequence[SignedRequest]) -> list[bytes]:
    """Return each request as the bytes of one HTTP/1.1 POST to `url`."""
    parts = urlsplit(url)
    path = parts.path or "/"
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        "Content-Type: application/json\r\n"
    ).encode()
    name = header.encode()

    return [
        head
        + name
        + b": "
        + request.header.encode()
        + b"\r\nContent-Length: "
        + str(len(request.body)).encode()
        + b"\r\n\r\n"
        + request.body
        for request in requests
    ]


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, one exchange at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._buffer = bytearray()
        self._waiter: asyncio.Future[int] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self._waiter is None:
            return
        status = read_response(self._buffer)
        if status is not None and not self._waiter.done():
            self._waiter.set_result(status)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ConnectionError("connection closed"))

    async def exchange(self, raw: bytes) -> int:
        """Send one request and return the status of its answer."""
        assert self.transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        try:
            return await self._waiter
        finally:
            self._waiter = None


def read_response(buffer: bytearray) -> int | None:
    """Return the status of a complete answer at the buffer's start, removing it.

    None while the answer is incomplete. The servers measured here always send
    `Content-Length`; an answer without one counts as having no body.
    """
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = bytes(buffer[:end]).lower()
    length = 0
    marker = head.find(b"\r\ncontent-length:")
    if marker >= 0:
        stop = head.find(b"\r\n", marker + 2)
        length = int(head[marker + 17 : stop if stop >= 0 else None])
    total = end + 4 + length
    if len(buffer) < total:
        return None
    status = int(head[9:12])
    del buffer[:total]

    return status


class Pool:
    """Keep-alive connections to one server, opened as the load needs them.

    Far lighter per request than a general client (aiohttp's or httpx's), so
    one generator process outpaces the servers it measures; past `limit`
    connections a request waits for one, and the wait counts in its latency.
    """

    def __init__(self, url: str, limit: int = CONNECTIONS) -> None:
        parts = urlsplit(url)
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or 80
        self._limit = limit
        self._open = 0
        self._idle: list[_Connection] = []
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._all: list[_Connection] = []

    async def send(self, raw: bytes) -> bool:
        """Send one prepared request; return whether it was answered 200 or 201."""
        try:
            connection = await self._acquire()
        except OSError:
            return False
        try:
            status = await connection.exchange(raw)
        except ConnectionError:
            status = 0
        self._release(connection)

        return status in (200, 201)

    def close(self) -> None:
        """Close every connection."""
        for connection in self._all:
            if connection.transport is not None:
                connection.transport.close()

    async def _acquire(self) -> _Connection:
        loop = asyncio.get_running_loop()
        while True:
            while self._idle:
                connection = self._idle.pop()
                if not connection.closed:
                    return connection
                self._open -= 1
            if self._open < self._limit:
                self._open += 1
                try:
                    _, connection = await loop.create_connection(
                        _Connection, self._host, self._port
                    )
                except OSError:
                    self._open -= 1
                    raise
                self._all.append(connection)
                return connection
            waiter = loop.create_future()
            self._waiting.append(waiter)
            await waiter

    def _release(self, connection: _Connection) -> None:
        if connection.closed:
            self._open -= 1
        else:
            self._idle.append(connection)
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)
                break


@click.command()
@click.option("--url", required=True, help="Where to POST every request.")
@click.option(
    "--requests",
    "requests_path",
    type=click.Path(path_type=Path),
    required=True,
    help="Requests, one a line, from write_requests.",
)
@click.option("--header", required=True, help="The header each line's value goes in.")
@click.option("--rate", type=float, default=0.0, help="Requests a second (open loop).")
@click.option("--concurrency", type=int, default=0, help="In flight (closed loop).")
@click.option("--duration", type=float, required=True, help="Seconds to run.")
@click.option(
    "--drain",
    type=float,
    default=TIMEOUT_SECONDS,
    help="Seconds to wait for late answers (open loop).",
)
@click.option("--out", type=click.Path(path_type=Path), required=True)
def main(
    url: str,
    requests_path: Path,
    header: str,
    rate: float,
    concurrency: int,
    duration: float,
    drain: float,
    out: Path,
) -> None:
    """Run the generator once and write its result as JSON."""
    requests = read_requests(requests_path)
    # The collector's full passes would stall the generator, and every
    # request due meanwhile would count the stall as the server's latency.
    gc.freeze()
    gc.disable()
    began = time.perf_counter()
    if concurrency > 0:
        result = asyncio.run(closed_loop(url, header, requests, concurrency, duration))
    elif rate > 0:
        result = asyncio.run(open_loop(url, header, requests, rate, duration, drain))
    else:
        raise click.UsageError("give --rate for an open loop or --concurrency")
    out.write_bytes(result.to_json())
    click.echo(
        f"{result.mode} loop: {result.ok} ok, {result.failed} failed,"
        f" {result.achieved_rate:.0f}/s in {time.perf_counter() - began:.1f}s"
    )


if __name__ == "__main__":
    main()
