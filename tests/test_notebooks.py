"""The example notebooks: committed executed and small (fast checks), and they still run top to
bottom against today's code (slow: `make test-slow`; `make notebooks` refreshes their outputs)."""

import importlib.util
import json
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "examples").glob("*.ipynb"))
MAX_BYTES = 400_000  # a notebook with its figures; big arrays or many figures would exceed it
MAX_TEXT = 20_000  # characters of one text output


def _ids(path):
    return path.name


def test_there_are_notebooks():
    assert {"quickstart.ipynb", "custom_model.ipynb", "rate_study.ipynb"} <= {p.name for p in NOTEBOOKS}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids)
def test_committed_notebook_is_executed_clean_and_small(path):
    assert path.stat().st_size < MAX_BYTES, f"{path.name}: {path.stat().st_size} bytes; keep outputs small"
    cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
    assert cells
    counts = [c["execution_count"] for c in cells]
    assert counts == list(range(1, len(cells) + 1)), f"{path.name}: run it top to bottom (`make notebooks`)"
    for c in cells:
        assert "execution" not in c.get("metadata", {}), f"{path.name}: saved with execution timings"
        for out in c["outputs"]:
            assert out["output_type"] != "error", f"{path.name}: a cell failed: {out.get('ename')}"
            data = out.get("data", {})
            images = [k for k in data if k.startswith("image/")]
            assert all(k == "image/png" for k in images), f"{path.name}: figures as PNG, got {images}"
            text = "".join(out.get("text", "")) + "".join(data.get("text/plain", ""))
            assert len(text) < MAX_TEXT, f"{path.name}: a text output of {len(text)} characters"


def _runner():
    spec = importlib.util.spec_from_file_location("run_notebooks", ROOT / "examples" / "run_notebooks.py")
    module = sys.modules.setdefault("run_notebooks", importlib.util.module_from_spec(spec))
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids)
def test_notebook_runs_top_to_bottom(path):
    pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    start = time.perf_counter()
    notebook = _runner().execute(path)  # raises CellExecutionError naming the failing cell
    seconds = time.perf_counter() - start
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs), f"{path.name} shows no figure"
    if path.name in ("quickstart.ipynb", "custom_model.ipynb"):  # promised: under 2 minutes on a laptop CPU
        assert seconds < 180, f"{path.name} took {seconds:.0f} s"
