"""Runs the benchmark suite and refreshes the figures of docs/performance.md and docs/scale.md.

python -m benchmarks.run [--quick] [--out DIR]
"""

from __future__ import annotations

import argparse

from . import (
    bench_compile,
    bench_dynamax,
    bench_fisher,
    bench_kernels,
    bench_main_job,
    bench_ragged_fisher,
    bench_scaling,
    bench_simulate,
    bench_stderr,
    bench_streaming,
    report,
)
from ._common import cold_compiles


def main(quick: bool = False, out=None) -> int:
    cold_compiles()
    benches = (
        bench_simulate, bench_kernels, bench_fisher, bench_stderr, bench_streaming, bench_dynamax, bench_main_job,
        bench_scaling, bench_compile, bench_ragged_fisher,
    )  # fmt: skip
    for bench in benches:
        bench.main(quick=quick, out=out)
    if not quick and out is None:
        report.main(write=True)
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=None)
    from trajax._cli import _use_cpu_cores

    _use_cpu_cores(None)
    raise SystemExit(main(**vars(parser.parse_args())))
