"""Executes the example notebooks top to bottom; a cell that raises fails the run.

    python examples/run_notebooks.py                 # execute every examples/*.ipynb, write nothing
    python examples/run_notebooks.py --inplace       # ... and save the outputs (`make notebooks`)
    python examples/run_notebooks.py quickstart.ipynb

The kernel runs in `examples/` with this checkout first on `PYTHONPATH`, so the notebooks use
the trajax next to them. Saved notebooks keep no execution timings, so re-running them changes
only outputs that really changed. Needs `nbclient` and `ipykernel` (the `dev` extra).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent
ROOT = EXAMPLES.parent


def notebooks(names=()) -> list[Path]:
    """The notebooks named (relative to examples/), or all of them."""
    if names:
        return [EXAMPLES / n if not Path(n).is_absolute() else Path(n) for n in names]
    return sorted(EXAMPLES.glob("*.ipynb"))


def execute(path: Path, timeout: int = 900):
    """The notebook at `path` executed in a fresh kernel (an `nbformat.NotebookNode`); raises
    `nbclient.exceptions.CellExecutionError` naming the cell that failed."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    env.setdefault("MPLBACKEND", "Agg")
    client = NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        record_timing=False,
    )
    client.execute(env=env)
    return notebook


def main(argv: list[str]) -> int:
    import nbformat

    inplace = "--inplace" in argv
    for path in notebooks([a for a in argv if not a.startswith("--")]):
        start = time.perf_counter()
        notebook = execute(path)
        if inplace:
            nbformat.write(notebook, path)
        print(f"{path.name}: ran in {time.perf_counter() - start:.0f} s" + (", saved" if inplace else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
