"""Tests of the benchmark's pieces that run without wrk; nothing here is timed."""

from __future__ import annotations

import math
import py_compile
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from pydantic import SecretStr

from adapters.softswiss import SoftswissAdapter, SoftswissConfig
from contracts import AdapterContext, Callback, CurrencyTable, Operation
from gateway.bench import bodies, loadgen, report, wrk
from gateway.bench.processes import BenchError
from gateway.bench.report import Latency, Report, Result
from gateway.bench.servers import CEILING_ANSWER, ceiling_app, upstream_app

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "bench-auth-token"


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for the adapter; the tests never send through it."""
    async with httpx.AsyncClient() as client:
        yield client


class TestServers:
    async def test_ceiling_parses_writes_calls_and_answers(
        self, aiohttp_client: Any, aiohttp_server: Any, tmp_path: Path
    ):
        """The ceiling parses the body, writes one WAL row, calls the upstream once."""
        calls: list[bytes] = []

        async def counting(request: web.Request) -> web.Response:
            calls.append(await request.read())
            return web.Response(body=b"{}", content_type="application/json")

        upstream = web.Application()
        upstream.router.add_post("/", counting)
        upstream_server = await aiohttp_server(upstream)
        database = tmp_path / "ceiling.db"
        client = await aiohttp_client(
            ceiling_app(str(database), str(upstream_server.make_url("/")))
        )

        body = bodies.bet_body("casino:p1", round_id="r1", action_id="a1")
        answer = await client.post("/providers/x/play", data=body)

        assert answer.status == 200
        assert await answer.read() == CEILING_ANSWER
        assert calls == [b"{}"]
        with sqlite3.connect(database) as check:
            assert check.execute("PRAGMA journal_mode").fetchone() == ("wal",)
            assert check.execute("SELECT count(*) FROM writes").fetchone() == (1,)

    async def test_upstream_answers_an_empty_object(self, aiohttp_client: Any):
        """The trivial upstream answers `{}` to a POST on any path."""
        client = await aiohttp_client(upstream_app())

        answer = await client.post("/anything", data=b'{"x": 1}')

        assert answer.status == 200
        assert await answer.read() == b"{}"


class TestBodies:
    def test_signed_bets_verify_with_the_adapter(self, http: httpx.AsyncClient):
        """Every precomputed bet passes the softswiss adapter's signature check."""
        adapter = SoftswissAdapter(
            SoftswissConfig(
                base_url="http://127.0.0.1:9",
                auth_token=SecretStr(TOKEN),
                casino_id="c",
            ),
            AdapterContext(instance="studio", currencies=CurrencyTable(), http=http),
        )
        players = ["casino:p1", "casino:p2", "casino:p3"]

        requests = list(bodies.signed_bets(TOKEN, players, 30, "t"))
        parsed = [
            adapter.parse_callback(
                Callback(
                    path="play",
                    method="POST",
                    headers={"X-REQUEST-SIGN": request.header},
                    query={},
                    body=request.body,
                )
            )
            for request in requests
        ]

        assert [p.operations[0].operation for p in parsed] == [Operation.DEBIT] * 30
        assert len({p.operations[0].transaction_id for p in parsed}) == 30
        assert len({p.round_id for p in parsed}) == 30
        assert {p.player for p in parsed} == set(players)

    def test_requests_survive_the_file(self, tmp_path: Path):
        """Requests written one a line read back byte for byte."""
        path = tmp_path / "bets.requests"
        written = list(bodies.signed_bets(TOKEN, ["casino:p1"], 5, "f"))
        written += list(bodies.launches("key", ["p1"], 2))

        count = bodies.write_requests(path, written)

        assert count == 7
        assert bodies.read_requests(path) == written

    def test_prefixes_keep_phases_apart(self):
        """Two phases of one run never share an action id."""
        first = list(bodies.signed_bets(TOKEN, ["casino:p1"], 10, "w"))
        second = list(bodies.signed_bets(TOKEN, ["casino:p1"], 10, "s"))

        assert not {r.body for r in first} & {r.body for r in second}


class TestSchedule:
    @pytest.mark.parametrize(
        ("elapsed", "due"),
        [(-0.5, 0), (0.0, 1), (0.0049, 1), (0.005, 2), (0.0999, 20), (10.0, 100)],
    )
    def test_due_count(self, elapsed: float, due: int):
        """At 200/s request i is due at i/200 s, and no more than the total are due."""
        assert loadgen.due_count(elapsed, rate=200.0, total=100) == due

    def test_offsets_are_evenly_spaced(self):
        """Scheduled times step by exactly one interval, from zero."""
        offsets = [loadgen.scheduled_offset(i, 400.0) for i in range(5)]

        assert offsets == [0.0, 0.0025, 0.005, 0.0075, 0.01]

    def test_planned_total(self):
        """A run sends rate times duration requests, and always at least one."""
        assert loadgen.planned_total(2500.0, 10.0) == 25000
        assert loadgen.planned_total(0.1, 1.0) == 1

    async def test_open_loop_measures_every_request(self, aiohttp_server: Any):
        """An open-loop run sends the planned requests and times each one."""
        server = await aiohttp_server(upstream_app())
        requests = list(bodies.signed_bets(TOKEN, ["casino:p1"], 20, "o"))

        result = await loadgen.open_loop(
            str(server.make_url("/play")), "X-REQUEST-SIGN", requests, 100.0, 0.2
        )

        assert (result.sent, result.ok, result.failed) == (20, 20, 0)
        assert not any(math.isnan(value) for value in result.latencies)
        assert len(result.send_lag) == 20

    async def test_closed_loop_counts_answers(self, aiohttp_server: Any):
        """A closed-loop run counts every answer it got."""
        server = await aiohttp_server(upstream_app())
        requests = list(bodies.signed_bets(TOKEN, ["casino:p1"], 5, "c"))

        result = await loadgen.closed_loop(
            str(server.make_url("/play")), "X-REQUEST-SIGN", requests, 2, 0.1
        )

        assert result.ok > 0
        assert result.failed == 0
        assert result.sent == len(result.latencies)

    def test_result_survives_json(self):
        """A result written as JSON reads back equal."""
        result = loadgen.LoadResult("open", 10.0, 1.0, 10, 9, 1, 1.0, [0.001], [0.0])

        assert loadgen.LoadResult.from_json(result.to_json()) == result


class TestResponses:
    def test_a_complete_answer_is_taken_off_the_buffer(self):
        """A whole answer yields its status and leaves the next one's bytes."""
        buffer = bytearray(
            b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}HTTP/1.1 2"
        )

        assert loadgen.read_response(buffer) == 201
        assert buffer == bytearray(b"HTTP/1.1 2")

    def test_an_incomplete_answer_waits(self):
        """Headers without the whole body are not an answer yet."""
        buffer = bytearray(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n{}")

        assert loadgen.read_response(buffer) is None
        assert len(buffer) == 41

    def test_requests_are_prepared_as_http(self):
        """A prepared request carries the path, the header and the body's length."""
        request = bodies.SignedRequest("abc", b'{"a":1}')

        (raw,) = loadgen.prepare(
            "http://127.0.0.1:9/providers/x/play", "Sign", [request]
        )

        assert raw.startswith(b"POST /providers/x/play HTTP/1.1\r\n")
        assert b"\r\nSign: abc\r\nContent-Length: 7\r\n\r\n" in raw
        assert raw.endswith(b'{"a":1}')


class TestReport:
    def test_percentiles_are_nearest_rank(self):
        """p50 of 1..100 is 50, p99 is 99, p100 is 100."""
        ordered = [float(n) for n in range(1, 101)]

        assert report.percentile(ordered, 50) == 50.0
        assert report.percentile(ordered, 99) == 99.0
        assert report.percentile(ordered, 100) == 100.0

    def test_histogram_quantile_interpolates_inside_the_bucket(self):
        """Half of 10 observations lie at or below the middle of the 0-1 ms bucket."""
        cumulative = [(0.001, 10.0), (0.002, 10.0), (math.inf, 10.0)]

        assert report.histogram_quantile(0.5, cumulative) == pytest.approx(0.0005)
        assert math.isnan(report.histogram_quantile(0.5, []))

    def test_buckets_sum_series_and_diff_scrapes(self):
        """Buckets come from the difference of two scrapes, summed over labels."""
        page = (
            "# TYPE t histogram\n"
            't_bucket{operation="x",le="0.001"} {a}\n'
            't_bucket{operation="x",le="+Inf"} {b}\n'
            't_count{operation="x"} {b}\n'
            't_sum{operation="x"} 0.1\n'
        )
        before = report.parse_metrics(page.replace("{a}", "1").replace("{b}", "2"))
        after = report.parse_metrics(page.replace("{a}", "4").replace("{b}", "8"))

        grown = report.difference(after, before)

        assert report.buckets(grown, "t", {"operation": "x"}) == [
            (0.001, 3.0),
            (math.inf, 6.0),
        ]

    def test_the_table_has_every_column(self):
        """Fixed numbers render as one markdown row per result under every column."""
        results = [
            Result("ceiling", saturation=5000.0, cpu_per_request=140.0, offered=2500.0),
            Result(
                "wallet callback, builtin wallet",
                saturation=4000.0,
                cpu_per_request=210.0,
                offered=2500.0,
                latency=Latency(1.0, 2.0, 4.5, 12.0),
                overhead=(0.4, 1.5),
                peak_rss=80 * report.MIB,
                others_cpu=0.02,
            ),
        ]

        text = report.render(
            Report(
                machine={"nproc": "2"},
                results=results,
                ceiling=5000.0,
                generator={},
                ceiling_cpu=140.0,
            )
        )

        header = "| " + " | ".join(report.COLUMNS) + " |"
        assert header in text
        assert (
            "| wallet callback, builtin wallet | 4,000 | 80% | 210 | 67% | 2,500"
            " | 1.00 | 2.00 | 4.50 | 12.0 | 0.40 | 1.50 | 80 | 0.02 cores |"
        ) in text
        assert "| ceiling | 5,000 | 100% | 140 | 100% | 2,500 | - |" in text

    def test_plot_is_drawn_or_skipped(self, tmp_path: Path):
        """The plot is a PNG when matplotlib is installed, and skipped without it."""
        result = Result("x", offered=100.0, samples=[i / 1000 for i in range(1, 200)])
        path = tmp_path / "latency.png"

        drawn = report.plot([result], path)

        assert drawn == path.exists()
        if drawn:
            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


class TestWrk:
    def test_output_is_read(self):
        """wrk's rate and the script's own counters are read from its output."""
        output = (
            "Running 10s test @ http://127.0.0.1:1/play\n"
            "  Socket errors: connect 0, read 2, write 0, timeout 1\n"
            "Requests/sec:   4321.50\n"
            "bench: sent=43300 wrapped=7\n"
            "bench: requests=43215 duration_us=10000500 non2xx=3\n"
        )

        result = wrk.parse_wrk(output)

        assert result == wrk.WrkResult(
            requests=43215,
            seconds=10.0005,
            rate=4321.5,
            non_2xx=3,
            socket_errors=3,
            wrapped=7,
        )

    def test_missing_wrk_names_the_install_command(
        self, monkeypatch: pytest.MonkeyPatch
    ):
        """Without wrk the benchmark stops and says how to install it."""
        monkeypatch.setattr(wrk.shutil, "which", lambda name: None)

        with pytest.raises(BenchError, match="apt-get install -y wrk"):
            wrk.find_wrk()

    def test_the_wrk_script_ships_with_the_examples(self):
        """The Lua script wrk runs is where the command looks for it."""
        assert wrk.SCRIPT.is_file()
        assert "function request()" in wrk.SCRIPT.read_text()


def test_locustfile_compiles(tmp_path: Path):
    """The locust scenario is valid Python, though locust itself is optional."""
    py_compile.compile(
        str(ROOT / "examples" / "loadtest" / "locustfile.py"),
        cfile=str(tmp_path / "locustfile.pyc"),
        doraise=True,
    )
