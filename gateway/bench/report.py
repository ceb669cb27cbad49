"""The benchmark's numbers: percentiles, histogram quantiles, the report.

Client-side latencies are exact percentiles of every sample. The gateway's
own overhead comes from its `/metrics` histograms, read before and after a
run, so it is a quantile interpolated inside a bucket, as Prometheus's
`histogram_quantile` computes it; the report says so.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

MIB = 1024 * 1024
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@dataclass(frozen=True, slots=True)
class Latency:
    """Latency percentiles of one run, in milliseconds."""

    p50: float
    p90: float
    p99: float
    max: float

    @classmethod
    def of(cls, seconds: Iterable[float]) -> Latency | None:
        """Return the percentiles of samples in seconds; None without samples."""
        ordered = sorted(value for value in seconds if not math.isnan(value))
        if not ordered:
            return None
        return cls(
            p50=percentile(ordered, 50) * 1000,
            p90=percentile(ordered, 90) * 1000,
            p99=percentile(ordered, 99) * 1000,
            max=ordered[-1] * 1000,
        )


@dataclass
class Result:
    """One row of the report: a path measured at saturation and at a fixed rate.

    `cpu_per_request` is the server's CPU time per request at saturation,
    in microseconds, which other programs on the machine barely move;
    `overhead` holds the p50 and p99 of the gateway's own time per request,
    in milliseconds; `others_cpu` the cores other programs used meanwhile;
    `samples` and `send_lag` the open-loop run's latencies and how late each
    request left, in seconds; `rss` the sampled memory `(seconds, bytes)`.
    """

    name: str
    saturation: float | None = None
    cpu_per_request: float | None = None
    offered: float | None = None
    achieved: float | None = None
    latency: Latency | None = None
    overhead: tuple[float, float] | None = None
    upstream: tuple[float, float] | None = None
    peak_rss: int | None = None
    others_cpu: float | None = None
    failed: int = 0
    notes: list[str] = field(default_factory=list)
    samples: list[float] = field(default_factory=list)
    send_lag: list[float] = field(default_factory=list)
    rss: list[tuple[float, int]] = field(default_factory=list)


@dataclass
class Report:
    """Everything one benchmark run found, ready to render."""

    machine: Mapping[str, str]
    results: list[Result]
    ceiling: float | None
    generator: Mapping[str, float]
    ceiling_cpu: float | None = None
    scaling: list[Result] = field(default_factory=list)
    memory: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def percentile(ordered: Sequence[float], rank: float) -> float:
    """Return the nearest-rank percentile of sorted samples (`rank` in 0..100)."""
    if not ordered:
        raise ValueError("no samples")
    index = math.ceil(rank / 100 * len(ordered)) - 1

    return ordered[min(len(ordered) - 1, max(0, index))]


def parse_metrics(text: str) -> Samples:
    """Return every sample of a Prometheus text page, keyed by name and labels."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def difference(after: Samples, before: Samples) -> Samples:
    """Return how much each sample grew between two scrapes."""
    return {key: value - before.get(key, 0.0) for key, value in after.items()}


def buckets(
    samples: Samples, name: str, labels: Mapping[str, str]
) -> list[tuple[float, float]]:
    """Return a histogram's cumulative buckets `(upper bound, count)`, in order.

    Series whose labels include `labels` are summed, so `{"route": ...}` adds
    up a route's histogram over every other label.
    """
    wanted = set(labels.items())
    counts: dict[float, float] = {}
    for (sample, sample_labels), value in samples.items():
        if sample != f"{name}_bucket" or not wanted <= sample_labels:
            continue
        bound = float(dict(sample_labels)["le"])
        counts[bound] = counts.get(bound, 0.0) + value

    return sorted(counts.items())


def histogram_quantile(
    quantile: float, cumulative: Sequence[tuple[float, float]]
) -> float:
    """Return a quantile of a histogram, interpolated inside its bucket.

    As Prometheus does: linear between the bucket's bounds, the first bucket
    starting at 0; a quantile in the `+Inf` bucket answers the highest finite
    bound. NaN when the histogram is empty.
    """
    if not cumulative or cumulative[-1][1] <= 0:
        return math.nan
    rank = quantile * cumulative[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in cumulative:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            inside = count - lower_count
            share = (rank - lower_count) / inside if inside else 0.0
            return lower_bound + (bound - lower_bound) * share
        lower_bound, lower_count = bound, count

    return lower_bound


COLUMNS = (
    "path",
    "req/s at saturation",
    "vs ceiling",
    "server CPU µs/req",
    "CPU vs ceiling",
    "offered req/s",
    "p50 ms",
    "p90 ms",
    "p99 ms",
    "max ms",
    "overhead p50 ms",
    "overhead p99 ms",
    "peak RSS MiB",
    "other programs' CPU",
)


def table_rows(
    results: Sequence[Result], ceiling: float | None, ceiling_cpu: float | None = None
) -> list[list[str]]:
    """Return the report's table as rows of cells, `COLUMNS` first.

    `ceiling_cpu` is the ceiling's CPU time per request: the CPU ratio says
    what share of the ceiling's rate a path would reach on a core of its own,
    whatever else the machine ran meanwhile.
    """
    rows = [list(COLUMNS)]
    for result in results:
        by_cpu = (
            f"{ceiling_cpu / result.cpu_per_request:.0%}"
            if ceiling_cpu and result.cpu_per_request
            else "-"
        )
        latency = result.latency
        ratio = (
            f"{result.saturation / ceiling:.0%}"
            if result.saturation and ceiling
            else "-"
        )
        rows.append(
            [
                result.name,
                _number(result.saturation, "{:,.0f}"),
                ratio,
                _number(result.cpu_per_request, "{:,.0f}"),
                by_cpu,
                _number(result.offered, "{:,.0f}"),
                _number(latency.p50 if latency else None, "{:.2f}"),
                _number(latency.p90 if latency else None, "{:.2f}"),
                _number(latency.p99 if latency else None, "{:.2f}"),
                _number(latency.max if latency else None, "{:.1f}"),
                _number(result.overhead and result.overhead[0], "{:.2f}"),
                _number(result.overhead and result.overhead[1], "{:.2f}"),
                _number(result.peak_rss and result.peak_rss / MIB, "{:.0f}"),
                _number(result.others_cpu, "{:.2f} cores"),
            ]
        )

    return rows


def markdown_table(rows: Sequence[Sequence[str]]) -> str:
    """Render rows of cells, the first being the header, as a markdown table."""
    header, *body = rows
    lines = [
        "| " + " | ".join(header) + " |",
        "| " + " | ".join("---" for _ in header) + " |",
    ]
    lines.extend("| " + " | ".join(row) + " |" for row in body)

    return "\n".join(lines)


def render(report: Report) -> str:
    """Render the whole report as markdown."""
    parts = ["# gamegate benchmark", "", _machine(report.machine), ""]
    table = table_rows(report.results, report.ceiling, report.ceiling_cpu)
    parts += [markdown_table(table), ""]
    if report.scaling:
        parts += ["## Workers on PostgreSQL", ""]
        parts += [markdown_table(table_rows(report.scaling, None)), ""]
    if report.generator:
        parts += ["## The load generators", "", _generator(report.generator), ""]
    if report.memory:
        parts += ["## Memory", "", *(f"- {line}" for line in report.memory), ""]
    notes = [
        note for result in report.results + report.scaling for note in result.notes
    ]
    if notes or report.notes:
        parts += ["## Notes", "", *(f"- {line}" for line in report.notes + notes), ""]
    parts += [METHOD]

    return "\n".join(parts)


METHOD = """## How these were measured

- Server CPU: the CPU time the server's processes used during the
  saturation run, divided by the requests answered. Other programs on the
  machine barely move it, so "CPU vs ceiling" (the ceiling's CPU per
  request over the path's) is the steadier ratio when they are busy.
- Saturation: wrk, one thread, on the load generator's core, sending
  pre-signed requests (each wallet callback a fresh bet, never a replay)
  for the whole run; the rate is what the server answered.
- Latency: the open-loop generator (`gateway.bench.loadgen`) sends at a
  fixed rate, half the ceiling's saturation rate, and measures each request
  from the moment it was scheduled, so a stall is counted, not hidden.
  Percentiles are exact over every request.
- Overhead: the gateway's own time per request, from its histogram
  `gateway_overhead_seconds` (operation `wallet_callback` or `launch`):
  for each request, the time in its handler minus the time that request
  spent waiting on the casino's wallet (`operator_wallet_call_seconds`)
  or on the provider (`provider_call_seconds`, retry waits included). It
  is read from `/metrics` before and after the fixed-rate run, and its
  quantiles are interpolated inside the histogram's buckets. It leaves out
  the time a request waits in the kernel and in aiohttp's parser before
  the handler runs, which the client-side latency includes; it does
  include waiting for the database's lock and, in operator mode, for the
  player's lock behind that player's earlier requests.
- Memory: resident set size of the gateway's processes, sampled from
  `/proc` every 100 ms while the scenario ran.
- Other programs' CPU: the machine's busy CPU time minus the benchmark's
  own processes, averaged over the scenario; above about 0.1 cores the
  numbers are disturbed by work that is not the benchmark's."""


def _machine(machine: Mapping[str, str]) -> str:
    return "\n".join(f"- {key}: {value}" for key, value in machine.items())


def _generator(generator: Mapping[str, float]) -> str:
    lines = []
    for name, value in generator.items():
        shown = f"{value:,.0f} req/s" if "rate" in name else f"{value:.2f} ms"
        lines.append(f"- {name}: {shown}")

    return "\n".join(lines)


def _number(value: float | None, template: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return template.format(value)


def plot(results: Sequence[Result], path: Path) -> bool:
    """Plot each run's latency percentile distribution as a PNG.

    Returns False, drawing nothing, when matplotlib is not installed.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as pyplot
    except ImportError:
        return False

    figure, axes = pyplot.subplots(figsize=(12, 5.5))
    for result in results:
        ordered = sorted(v * 1000 for v in result.samples if not math.isnan(v))
        if len(ordered) < 10:
            continue
        ranks, values = _percentile_curve(ordered)
        label = f"{result.name} @ {result.offered or 0:,.0f}/s"
        axes.plot(ranks, values, label=label)
    axes.set_xscale("log")
    axes.set_yscale("log")
    ticks = [1, 2, 10, 100, 1000, 10000]
    axes.set_xticks(ticks, ["0%", "50%", "90%", "99%", "99.9%", "99.99%"])
    axes.set_xlabel("percentile")
    axes.set_ylabel("latency, ms (from the scheduled send time)")
    axes.set_title("gamegate: latency at a fixed offered load")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    pyplot.close(figure)

    return True


def _percentile_curve(ordered: Sequence[float]) -> tuple[list[float], list[float]]:
    # x is 1 / (1 - p): 2 at the median, 100 at p99, so the tail gets the room.
    count = len(ordered)
    ranks, values = [], []
    for index, value in enumerate(ordered):
        share = index / count
        ranks.append(1 / (1 - share))
        values.append(value)

    return ranks, values
