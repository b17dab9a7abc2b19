"""`trajax bench`: runs `python -m benchmarks.run` in the trajax checkout it is called from.

The benchmarks live beside the package, not in it, and use its public API, so the package
never imports them; from an installed wheel, this command needs the current directory to be a
checkout (or run `python -m benchmarks.run` there, as `make bench` does).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def run_benchmarks(quick: bool = False, out: str | None = None) -> int:
    """Runs the suite in a child process; returns its exit status."""
    if not (Path.cwd() / "benchmarks" / "run.py").is_file():
        raise ValueError(
            f"bench: no benchmarks/run.py in {Path.cwd()}; run `trajax bench` (or `python -m "
            "benchmarks.run`) from the root of a trajax checkout"
        )
    command = [sys.executable, "-m", "benchmarks.run", *(["--quick"] if quick else [])]
    return subprocess.call([*command, *(["--out", str(out)] if out else [])])
