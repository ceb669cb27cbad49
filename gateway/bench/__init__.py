"""`gamegate bench`: the gateway under load, against the machine's own ceiling.

`runner` runs the scenarios; `servers` holds the ceiling and its trivial
upstream; `stack` starts a gateway with its studio and wallet; `bodies`
signs the requests ahead of time; `wrk` measures saturation and `loadgen`
latency at a fixed rate; `processes` pins, watches and stops processes;
`report` turns the numbers into markdown and a plot.
"""

from gateway.bench import report
from gateway.bench.processes import BenchError
from gateway.bench.runner import Options, run_bench

__all__ = ["BenchError", "Options", "report", "run_bench"]
