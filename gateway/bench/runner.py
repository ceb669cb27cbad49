"""`gamegate bench`: every scenario in one run, then the report.

The order matters: the ceiling runs first, because its saturation rate sets
the fixed offered load (half of it) of every later scenario. Each scenario
then runs the same three steps on a fresh stack: a short warm-up, a wrk
saturation run, and an open-loop run at the offered load, with the
gateway's `/metrics` read around the last one.
"""

from __future__ import annotations

import math
import os
import platform
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from gateway.bench import bodies, loadgen, report
from gateway.bench.processes import (
    BenchError,
    Service,
    Watch,
    free_port,
    tree_cpu_seconds,
    usable_cores,
)
from gateway.bench.report import Latency, Report, Result
from gateway.bench.stack import Layout, Stack, gateway_stack, player_refs, python
from gateway.bench.wrk import WrkResult, find_wrk, run_wrk, wrk_command

SIGNATURE_HEADER = "X-REQUEST-SIGN"
AUTHORIZATION = "Authorization"
CONNECTIONS = 64
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
# Fresh bets prepared for a saturation run: this many times the ceiling's
# rate (4,000/s at least) for its length, since a gateway path without an
# outbound call may outrun the ceiling itself.
_HEADROOM = 2.5


@dataclass(frozen=True)
class Options:
    """What one benchmark run measures and for how long."""

    out: Path = Path("bench-results")
    quick: bool = False
    postgres: str | None = DEFAULT_POSTGRES
    soak: int = 0
    nice: int = 0

    @property
    def warmup(self) -> float:
        """Seconds of warm-up before each measurement."""
        return 1.0 if self.quick else 2.0

    @property
    def saturation(self) -> float:
        """Seconds of each wrk saturation run."""
        return 2.0 if self.quick else 10.0

    @property
    def fixed(self) -> float:
        """Seconds of each open-loop run at the offered load."""
        return 2.0 if self.quick else 10.0

    @property
    def drain(self) -> float:
        """Seconds an open-loop run waits for late answers after its last send."""
        return 2.0 if self.quick else 10.0

    @property
    def players(self) -> int:
        """How many funded players the callbacks spread over."""
        return 10 if self.quick else 50


@dataclass
class Run:
    """One benchmark run in progress: where it writes, on which cores."""

    options: Options
    wrk: str
    folder: Path
    layout: Layout
    logs: Path
    memory_folder: Path | None = None
    ceiling: float = 0.0

    @property
    def offered(self) -> float:
        """The fixed load of the open-loop runs: half the ceiling's rate."""
        return self.ceiling / 2

    def requests_file(
        self, name: str, requests: Iterator[bodies.SignedRequest]
    ) -> Path:
        """Write requests for one phase to a file of the run's folder."""
        path = self.folder / f"{name}.requests"
        bodies.write_requests(path, requests)
        return path

    def saturate(self, url: str, path: Path, header: str, seconds: float) -> WrkResult:
        """Run wrk against `url` for `seconds`."""
        command = wrk_command(
            self.wrk, url, path, header, seconds=seconds, connections=CONNECTIONS
        )
        return run_wrk(command, self.layout.load)

    def generate(
        self,
        url: str,
        path: Path,
        header: str,
        *,
        rate: float = 0.0,
        concurrency: int = 0,
        seconds: float,
    ) -> loadgen.LoadResult:
        """Run the open-loop generator as a process of its own, on the load cores."""
        out = path.with_suffix(".result.json")
        command = python(
            "gateway.bench.loadgen",
            "--url",
            url,
            "--requests",
            str(path),
            "--header",
            header,
            "--duration",
            str(seconds),
            "--out",
            str(out),
            "--drain",
            str(self.options.drain),
        )
        command += (
            ["--rate", str(rate)] if rate else ["--concurrency", str(concurrency)]
        )
        load = self.layout.load

        def pin() -> None:
            if load:
                os.sched_setaffinity(0, load)

        completed = subprocess.run(
            command, capture_output=True, text=True, preexec_fn=pin, check=False
        )
        if completed.returncode != 0:
            raise BenchError(f"the generator failed: {completed.stderr[-400:]}")

        return loadgen.LoadResult.from_json(out.read_bytes())

    def body_count(self, seconds: float) -> int:
        """How many fresh bodies a saturation run of `seconds` may need."""
        return math.ceil(max(self.ceiling, 4000.0) * _HEADROOM * seconds)


def run_bench(options: Options, echo: Callable[[str], None] = print) -> Report:
    """Run every scenario, write the report and the plot, and return the report."""
    wrk = find_wrk()
    if options.nice:
        # Every process the benchmark starts inherits the niceness.
        try:
            os.setpriority(os.PRIO_PROCESS, 0, options.nice)
        except PermissionError:
            raise BenchError(f"--nice {options.nice} needs root") from None
    cores = usable_cores()
    layout = Layout(server=None, load=None)
    if len(cores) > 1:
        layout = Layout(server={cores[0]}, load=set(cores[1:]))
    if layout.load:
        os.sched_setaffinity(0, layout.load)
    options.out.mkdir(parents=True, exist_ok=True)
    machine = machine_facts(wrk, cores)

    with (
        tempfile.TemporaryDirectory(prefix="gamegate-bench-") as folder,
        _memory_folder() as memory_folder,
    ):
        logs = options.out / "logs"
        logs.mkdir(exist_ok=True)
        run = Run(options, wrk, Path(folder), layout, logs, memory_folder)
        notes = [] if len(cores) > 1 else ["one core only: nothing is pinned"]
        if memory_folder is not None:
            notes.append(
                "the reference casino wallet keeps its SQLite file in memory"
                f" ({memory_folder.parent}): it syncs every commit to disk"
                " (synchronous=FULL), and on this machine's disk that, not the"
                " gateway, would set the pace of operator wallet mode"
            )
        generator: dict[str, float] = {}
        echo("ceiling: bare aiohttp handler, one SQLite write, one outbound call")
        ceiling = measure_ceiling(run, generator)
        results = [ceiling]
        echo(f"  {ceiling.saturation:,.0f} req/s; offered load {run.offered:,.0f}/s")
        for wallet in ("builtin", "operator"):
            echo(f"wallet callback, {wallet} wallet")
            results += measure_callbacks(run, wallet)
        echo("launch: POST /v1/sessions against the studio simulator")
        results.append(measure_launch(run))
        scaling: list[Result] = []
        if options.postgres and options.quick:
            notes.append("--quick leaves out the workers on PostgreSQL")
        elif options.postgres:
            echo("workers on PostgreSQL: one, then two")
            scaling = measure_workers(run, options.postgres, notes)
        memory = memory_lines(results)
        if options.soak:
            echo(f"memory soak: {options.soak:,} callbacks")
            memory += soak(run, options.soak, results[1].saturation or 1000.0)

    for result in results + scaling:
        generator[f"send lag p99, {result.name}"] = _lag_p99(result)
    bench_report = Report(
        machine=machine,
        results=results,
        ceiling=ceiling.saturation,
        ceiling_cpu=ceiling.cpu_per_request,
        generator=generator,
        scaling=scaling,
        memory=memory,
        notes=notes + targets(results, ceiling),
    )
    text = report.render(bench_report)
    (options.out / "report.md").write_text(text)
    plotted = report.plot(results + scaling, options.out / "latency.png")
    if not plotted:
        bench_report.notes.append("matplotlib is not installed: no plot drawn")
        (options.out / "report.md").write_text(report.render(bench_report))

    return bench_report


@contextmanager
def _memory_folder() -> Iterator[Path | None]:
    shared = Path("/dev/shm")
    if not (shared.is_dir() and os.access(shared, os.W_OK)):
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="gamegate-bench-", dir=shared) as folder:
        yield Path(folder)


def measure_ceiling(run: Run, generator: dict[str, float]) -> Result:
    """Measure the bare handler: saturation, generator self-check, fixed load."""
    folder, layout = run.folder, run.layout
    upstream_port, ceiling_port = free_port(), free_port()
    # The ceiling takes the same bodies as the gateway's callbacks; it never
    # tells a repeat from a fresh one, so a few thousand of them go round.
    path = run.requests_file("ceiling", bodies.signed_bets("c", ["c:p"], 5000, "c"))
    with (
        Service(
            "upstream",
            python("gateway.bench.servers", "upstream", "--port", str(upstream_port)),
            run.logs,
            cores=layout.load,
            port=upstream_port,
        ) as upstream,
        Service(
            "ceiling",
            python(
                "gateway.bench.servers",
                "ceiling",
                "--port",
                str(ceiling_port),
                "--db",
                str(folder / "ceiling.db"),
                "--upstream",
                f"http://127.0.0.1:{upstream_port}/",
            ),
            run.logs,
            cores=layout.server,
            port=ceiling_port,
        ) as ceiling,
    ):
        url = f"http://127.0.0.1:{ceiling_port}/play"
        with Watch([ceiling.pid], [ceiling.pid, upstream.pid]) as watch:
            run.saturate(url, path, SIGNATURE_HEADER, run.options.warmup)
            spent = tree_cpu_seconds(ceiling.pid)
            saturated = run.saturate(
                url, path, SIGNATURE_HEADER, run.options.saturation
            )
            spent = tree_cpu_seconds(ceiling.pid) - spent
            run.ceiling = saturated.rate
            self_check = run.options.warmup + 1
            against_ceiling = run.generate(
                url, path, SIGNATURE_HEADER, concurrency=CONNECTIONS, seconds=self_check
            )
            generator["generator's top rate against the ceiling"] = (
                against_ceiling.achieved_rate
            )
            total = loadgen.planned_total(run.offered, run.options.fixed)
            fixed_path = run.requests_file(
                "ceiling-fixed", bodies.signed_bets("c", ["c:p"], total, "c")
            )
            fixed = _fixed(run, url, fixed_path, SIGNATURE_HEADER)
        top = run.generate(
            f"http://127.0.0.1:{upstream_port}/play",
            path,
            SIGNATURE_HEADER,
            concurrency=CONNECTIONS,
            seconds=self_check,
        )
        generator["generator's top rate against the trivial upstream"] = (
            top.achieved_rate
        )
        generator["wrk's rate against the ceiling"] = saturated.rate

    result = _result("ceiling (bare aiohttp)", saturated, fixed, watch, None)
    result.cpu_per_request = _per_request(spent, saturated)

    return result


def measure_callbacks(run: Run, wallet: str) -> list[Result]:
    """Measure signed `/play` bets through the softswiss adapter."""
    name = f"wallet callback, {wallet} wallet"
    with gateway_stack(
        wallet,
        run.folder,
        run.layout,
        wallet=wallet,
        logs=run.logs,
        wallet_folder=run.memory_folder,
        players=run.options.players,
    ) as stack:
        return _measure_stack(run, stack, name, prefix=wallet, own_rate=True)


def measure_launch(run: Run) -> Result:
    """Measure `POST /v1/sessions` through routing, the adapter and the studio."""
    with gateway_stack("launch", run.folder, run.layout, logs=run.logs) as stack:
        count = 2000
        path = run.requests_file(
            "launch", bodies.launches(stack.api_key, stack.players, count)
        )
        pids = stack.pids
        with Watch([stack.gateway.pid], pids) as watch:
            run.saturate(stack.launch_url, path, AUTHORIZATION, run.options.warmup)
            spent = tree_cpu_seconds(stack.gateway.pid)
            saturated = run.saturate(
                stack.launch_url, path, AUTHORIZATION, run.options.saturation
            )
            spent = tree_cpu_seconds(stack.gateway.pid) - spent
            total = loadgen.planned_total(run.offered, run.options.fixed)
            fixed_path = run.requests_file(
                "launch-fixed", bodies.launches(stack.api_key, stack.players, total)
            )
            before = report.parse_metrics(stack.metrics())
            fixed = _fixed(run, stack.launch_url, fixed_path, AUTHORIZATION)
            after = report.parse_metrics(stack.metrics())
        result = _result("launch (POST /v1/sessions)", saturated, fixed, watch, None)
        result.cpu_per_request = _per_request(spent, saturated)
        _overhead(result, report.difference(after, before), "launch")
        _upstream(result, report.difference(after, before), "provider_call_seconds")

    return result


def _measure_stack(
    run: Run, stack: Stack, name: str, prefix: str, *, own_rate: bool = False
) -> list[Result]:
    """Measure one stack's callbacks; with `own_rate`, also at half its own rate.

    The second open-loop run shows the path's latency and overhead when it
    is not overloaded, which half the ceiling's rate may well do.
    """
    refs = player_refs(stack)
    warm = run.requests_file(
        f"{prefix}-warm",
        bodies.signed_bets(
            stack.auth_token, refs, run.body_count(run.options.warmup), f"{prefix}w"
        ),
    )
    saturation = run.requests_file(
        f"{prefix}-saturation",
        bodies.signed_bets(
            stack.auth_token,
            refs,
            run.body_count(run.options.saturation),
            f"{prefix}s",
        ),
    )
    fixed_path = run.requests_file(
        f"{prefix}-fixed",
        bodies.signed_bets(
            stack.auth_token,
            refs,
            loadgen.planned_total(run.offered, run.options.fixed),
            f"{prefix}f",
        ),
    )
    url = stack.callback_url
    with Watch([stack.gateway.pid], stack.pids) as watch:
        run.saturate(url, warm, SIGNATURE_HEADER, run.options.warmup)
        spent = tree_cpu_seconds(stack.gateway.pid)
        saturated = run.saturate(
            url, saturation, SIGNATURE_HEADER, run.options.saturation
        )
        spent = tree_cpu_seconds(stack.gateway.pid) - spent
        before = report.parse_metrics(stack.metrics())
        fixed = _fixed(run, url, fixed_path, SIGNATURE_HEADER)
        after = report.parse_metrics(stack.metrics())
        own = None
        if own_rate and saturated.rate:
            rate = saturated.rate / 2
            own_path = run.requests_file(
                f"{prefix}-own",
                bodies.signed_bets(
                    stack.auth_token,
                    refs,
                    loadgen.planned_total(rate, run.options.fixed),
                    f"{prefix}o",
                ),
            )
            own = run.generate(
                url,
                own_path,
                SIGNATURE_HEADER,
                rate=rate,
                seconds=run.options.fixed,
            )
            last = report.parse_metrics(stack.metrics())

    result = _result(name, saturated, fixed, watch, None)
    result.cpu_per_request = _per_request(spent, saturated)
    _callback_metrics(result, report.difference(after, before))
    if saturated.wrapped:
        result.notes.append(
            f"{name}: wrk ran out of fresh bets and sent {saturated.wrapped:,}"
            " replays; the saturation rate includes them"
        )
    if own is None:
        return [result]
    relaxed = Result(
        name=f"{name}, at half its own saturation",
        offered=own.rate,
        achieved=own.achieved_rate,
        latency=Latency.of(own.latencies),
        failed=own.failed,
        samples=own.latencies,
        send_lag=own.send_lag,
    )
    _callback_metrics(relaxed, report.difference(last, after))

    return [result, relaxed]


def _callback_metrics(result: Result, grown: report.Samples) -> None:
    _overhead(result, grown, "wallet_callback")
    _upstream(result, grown, "operator_wallet_call_seconds")


def measure_workers(run: Run, dsn: str, notes: list[str]) -> list[Result]:
    """Measure built-in wallet callbacks on PostgreSQL with one and two workers."""
    try:
        with psycopg.connect(dsn, connect_timeout=3):
            pass
    except psycopg.Error as error:
        notes.append(f"PostgreSQL at {dsn} did not answer ({error}); no worker scaling")
        return []

    unpinned = Layout(server=None, load=None)
    results = []
    for workers in (1, 2):
        with postgres_schema(dsn) as url:
            name = f"callback, built-in, PostgreSQL, {workers} worker(s)"
            scaled = replace(run, layout=unpinned)
            with gateway_stack(
                f"pg{workers}",
                run.folder,
                unpinned,
                database=url,
                workers=workers,
                logs=run.logs,
            ) as stack:
                results += _measure_stack(scaled, stack, name, prefix=f"pg{workers}")
    if len(results) == 2 and results[0].saturation and results[1].saturation:
        gain = results[1].saturation / results[0].saturation
        notes.append(
            f"two workers answered {gain:.2f}x the callbacks of one on PostgreSQL;"
            " nothing was pinned there, so the workers, PostgreSQL, wrk and the"
            " upstreams all shared the machine's cores; the peak RSS of two"
            " workers includes their parent process"
        )

    return results


@contextmanager
def postgres_schema(dsn: str) -> Iterator[str]:
    """Yield the URL of a fresh schema on the server, dropped afterwards."""
    schema = f"bench_{os.getpid()}_{int(time.time())}"
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
        try:
            separator = "&" if "?" in dsn else "?"
            yield f"{dsn}{separator}options=-csearch_path%3D{schema}"
        finally:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


def soak(run: Run, callbacks: int, rate: float) -> list[str]:
    """Send `callbacks` fresh bets at saturation and watch the gateway's memory.

    wrk runs for a duration, not a count, so the run lasts as long as the
    callbacks take at `rate`, the built-in scenario's saturation rate; any
    bets sent past the prepared ones are replays, and counted as such.
    """
    with gateway_stack("soak", run.folder, run.layout, logs=run.logs) as stack:
        path = run.requests_file(
            "soak",
            bodies.signed_bets(stack.auth_token, player_refs(stack), callbacks, "k"),
        )
        seconds = callbacks / rate
        with Watch([stack.gateway.pid], stack.pids) as watch:
            result = run.saturate(stack.callback_url, path, SIGNATURE_HEADER, seconds)
        database = run.folder / "soak.db"
        size = database.stat().st_size + _wal_size(database)

    return soak_lines(watch.samples, result, size)


def soak_lines(
    samples: list[tuple[float, int]], result: WrkResult, database_bytes: int
) -> list[str]:
    """Describe the gateway's memory over a soak run."""
    if len(samples) < 10:
        return ["the soak was too short to sample"]
    tenth = samples[len(samples) // 10][1]
    last = samples[-1][1]
    fresh = result.requests - result.wrapped
    return [
        f"soak: {result.requests:,} callbacks ({fresh:,} fresh bets) at"
        f" {result.rate:,.0f}/s; RSS {tenth / report.MIB:.1f} MiB after the first"
        f" tenth, {last / report.MIB:.1f} MiB at the end"
        f" ({(last - tenth) / report.MIB:+.1f} MiB), peak"
        f" {max(s[1] for s in samples) / report.MIB:.1f} MiB; the ledger's file"
        f" grew to {database_bytes / report.MIB:.0f} MiB on disk"
    ]


def memory_lines(results: list[Result]) -> list[str]:
    """Describe how each gateway's memory moved within its scenario."""
    return [line for result in results if (line := _growth(result))]


def targets(results: list[Result], ceiling: Result) -> list[str]:
    """Say whether the issue's targets were met, and by how much."""
    by_name = {result.name: result for result in results}
    builtin = by_name.get("wallet callback, builtin wallet")
    operator = by_name.get("wallet callback, operator wallet")
    lines = []
    if builtin and builtin.saturation and ceiling.saturation:
        ratio = builtin.saturation / ceiling.saturation
        lines.append(
            f"target: built-in wallet callbacks at >= 70% of the ceiling: {ratio:.0%}"
            f" ({'met' if ratio >= 0.7 else 'missed'})"
        )
    if builtin and builtin.cpu_per_request and ceiling.cpu_per_request:
        share = ceiling.cpu_per_request / builtin.cpu_per_request
        lines.append(
            f"the same by CPU time per request: {share:.0%}"
            f" ({'met' if share >= 0.7 else 'missed'}); this ratio holds whatever"
            " else the machine ran"
        )
    for result in (builtin, operator):
        if result and result.latency:
            verdict = "met" if result.latency.p99 < 10 else "missed"
            lines.append(
                f"target: p99 under 10 ms at half the ceiling, {result.name}:"
                f" {result.latency.p99:.2f} ms ({verdict})"
            )
    if operator and operator.overhead:
        verdict = "met" if operator.overhead[1] < 5 else "missed"
        lines.append(
            "target: overhead p99 under 5 ms in operator mode:"
            f" {operator.overhead[1]:.2f} ms ({verdict})"
        )
    relaxed = by_name.get(
        "wallet callback, operator wallet, at half its own saturation"
    )
    if relaxed and relaxed.overhead:
        lines.append(
            "for comparison, operator mode at half its own saturation: overhead"
            f" p99 {relaxed.overhead[1]:.2f} ms, p99"
            f" {relaxed.latency.p99 if relaxed.latency else math.nan:.2f} ms"
        )

    return lines


def machine_facts(wrk: str, cores: list[int]) -> dict[str, str]:
    """Return what the report says about the machine it ran on."""
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    version = subprocess.run([wrk, "-v"], capture_output=True, text=True, check=False)
    load = os.getloadavg()

    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": f"{os.cpu_count()} ({len(cores)} usable)",
        "CPU": model,
        "Python": platform.python_version(),
        "kernel": platform.release(),
        "wrk": (version.stdout or version.stderr).split("\n", 1)[0].strip(),
        "load average at start": f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
        "niceness of the benchmark's processes": str(
            os.getpriority(os.PRIO_PROCESS, 0)
        ),
        "layout": (
            f"servers under test on core {cores[0]}; wrk, the generator and the"
            f" upstreams on core(s) {', '.join(map(str, cores[1:]))}"
            if len(cores) > 1
            else "one core, unpinned"
        ),
    }


def _fixed(run: Run, url: str, path: Path, header: str) -> loadgen.LoadResult:
    return run.generate(url, path, header, rate=run.offered, seconds=run.options.fixed)


def _result(
    name: str,
    saturated: WrkResult,
    fixed: loadgen.LoadResult,
    watch: Watch,
    overhead: tuple[float, float] | None,
) -> Result:
    result = Result(
        name=name,
        saturation=saturated.rate,
        offered=fixed.rate,
        achieved=fixed.achieved_rate,
        latency=Latency.of(fixed.latencies),
        overhead=overhead,
        peak_rss=watch.peak_rss,
        others_cpu=watch.others_cpu,
        failed=fixed.failed,
        samples=fixed.latencies,
        send_lag=fixed.send_lag,
        rss=watch.samples,
    )
    errors = saturated.non_2xx + saturated.socket_errors
    if errors:
        result.notes.append(f"{name}: {errors:,} failed answers during saturation")
    if fixed.failed:
        result.notes.append(f"{name}: {fixed.failed:,} failed at the offered load")
    if saturated.rate < fixed.rate:
        result.notes.append(
            f"{name}: the offered load is above this path's saturation rate, so"
            " its latencies measure a growing queue"
        )

    return result


def _per_request(cpu: float, saturated: WrkResult) -> float | None:
    return cpu / saturated.requests * 1e6 if saturated.requests else None


def _overhead(result: Result, grown: report.Samples, operation: str) -> None:
    cumulative = report.buckets(
        grown, "gateway_overhead_seconds", {"operation": operation}
    )
    if cumulative and cumulative[-1][1] > 0:
        result.overhead = (
            report.histogram_quantile(0.5, cumulative) * 1000,
            report.histogram_quantile(0.99, cumulative) * 1000,
        )


def _upstream(result: Result, grown: report.Samples, histogram: str) -> None:
    cumulative = report.buckets(grown, histogram, {})
    if cumulative and cumulative[-1][1] > 0:
        p50 = report.histogram_quantile(0.5, cumulative) * 1000
        p99 = report.histogram_quantile(0.99, cumulative) * 1000
        result.upstream = (p50, p99)
        result.notes.append(
            f"{result.name}: time waiting on the upstream ({histogram}),"
            f" p50 {p50:.2f} ms, p99 {p99:.2f} ms"
        )


def _growth(result: Result) -> str:
    samples = result.rss
    if len(samples) < 10:
        return ""
    first = samples[len(samples) // 10][1]
    last = samples[-1][1]
    return (
        f"{result.name}: RSS {first / report.MIB:.1f} MiB after the warm-up's"
        f" first tenth, {last / report.MIB:.1f} MiB at the end, peak"
        f" {result.peak_rss / report.MIB if result.peak_rss else 0:.1f} MiB"
    )


def _lag_p99(result: Result) -> float:
    lags = sorted(result.send_lag or [0.0])
    return report.percentile(lags, 99) * 1000


def _wal_size(database: Path) -> int:
    wal = database.with_name(database.name + "-wal")
    return wal.stat().st_size if wal.exists() else 0
