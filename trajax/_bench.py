"""`trajax bench`: runs the suite in the checkout's benchmarks/ folder."""

from __future__ import annotations

import sys
from pathlib import Path


def run_benchmarks(quick: bool = False, out: str | None = None) -> int:
    root = Path(__file__).resolve().parent.parent
    if not (root / "benchmarks" / "run.py").exists():
        raise ValueError(
            "bench: benchmarks/ not found beside the package; run `trajax bench` from an "
            "editable install of the trajax checkout (pip install -e .)"
        )
    sys.path.insert(0, str(root))
    from benchmarks import run

    default_out = str(root / "benchmarks" / "results")
    return run.main(quick=quick, out=None if out in (None, default_out, "benchmarks/results") else out)
