"""Refreshes the benchmark figures of docs/performance.md and docs/scale.md from the committed
JSON results in benchmarks/results/ (the renderers live in docs/gen_figures.py).

python -m benchmarks.report [--write]   # prints the summary table; --write rewrites the pages
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

GEN_FIGURES = Path(__file__).resolve().parent.parent / "docs" / "gen_figures.py"


def _gen_figures():
    spec = importlib.util.spec_from_file_location("gen_figures", GEN_FIGURES)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def table() -> str:
    """The summary table of docs/performance.md."""
    return _gen_figures().summary()


def main(write: bool = False) -> str:
    gen = _gen_figures()
    text = gen.summary()
    if write:
        gen.main([])
    print(text)
    return text


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--write", action="store_true")
    main(**vars(parser.parse_args()))
