"""Fault injection behind docs/reliability.md: kills, interrupts, torn files, changed settings,
edited models, malformed configs and file errors, each followed by a rerun of the same command.

    python docs/reliability_faults.py [--kills 12] [--interrupts 6] [--seed 0]
    python docs/reliability_faults.py --edited-model

Prints one markdown table row per trial. Every sweep is a small two-state-chain grid run through
the command line in a child process, so kills land anywhere: in Python's start-up, a compile, a
cell, or a write.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHAIN = """[model]
name = "two_state_chain"
theta = 0.8
[sweep]
m = [4, 8, 16]
T = [8, 16, 32]
replicates = 64
seed = 3
design = "independent"
"""
LDS = """[model]
name = "linear_system"
A = [[0.6, 0.1], [0.0, 0.5]]
noise = { family = "student_t", df = 5.0 }
[sweep]
m = [8, 16, 32]
T = [16, 32]
replicates = 16
seed = 1
"""
# the child kills itself just before the tables of its `after`-th record are written
KILLER = """
import os, signal, sys
from trajax import _records
after, write_tables, calls = int(sys.argv[1]), _records.SweepWriter.write_tables, []
def dying(self):
    calls.append(1)
    if len(calls) == after:
        os.kill(os.getpid(), signal.SIGKILL)
    write_tables(self)
_records.SweepWriter.write_tables = dying
from trajax._cli import main
sys.exit(main(sys.argv[2:]))
"""
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def cli(*args, prefix=(sys.executable, "-m", "trajax")):
    return subprocess.run([*prefix, *map(str, args)], capture_output=True, text=True, env=ENV, cwd=ROOT)


def state(out: Path) -> str:
    records = len(list((out / "records").glob("*.json"))) if (out / "records").exists() else 0
    strays = len(list(out.rglob(".*.tmp*"))) if out.exists() else 0
    cells = out / "cells.csv"
    rows = len(cells.read_text().splitlines()) - 1 if cells.exists() else 0
    return f"{records} records, cells.csv {rows} rows" + (f", {strays} temp files" if strays else "")


def resumed(config: Path, out: Path, reference: Path, *flags) -> str:
    run = cli("sweep", config, "--out", out, "--quiet", *flags)
    if run.returncode != 0:
        return f"rerun exit {run.returncode}: `{run.stderr.strip().splitlines()[-1]}`"
    same = (out / "cells.csv").read_text() == (reference / "cells.csv").read_text()
    cells = [r.split(",")[:2] for r in (out / "cells.csv").read_text().splitlines()]
    timings = [r.split(",")[:2] for r in (out / "timings.csv").read_text().splitlines()]
    left = len(list(out.rglob(".*.tmp*")))
    return (f"rerun exit 0, cells.csv {'identical' if same else 'DIFFERENT'}, timings.csv "
            f"{'complete' if cells == timings else 'INCOMPLETE'}, {left} temp files")  # fmt: skip


def row(fault: str, what: str, outcome: str) -> None:
    print(f"| {fault} | {what} | {outcome} |", flush=True)


def signals(tmp: Path, config: Path, reference: Path, wall: float, trials: int, sig, rng) -> None:
    name = signal.Signals(sig).name
    for i in range(trials):
        out, delay = tmp / f"{name}{i}", rng.uniform(0.0, 1.1 * wall)
        command = [sys.executable, "-m", "trajax", "sweep", str(config), "--out", str(out), "--quiet"]
        proc = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=ENV,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # as a terminal's Ctrl-C
        )  # fmt: skip
        time.sleep(delay)
        finished = proc.poll() is not None
        proc.send_signal(sig)
        err = proc.communicate()[1].strip().splitlines()
        last = f" `{err[-1][:70]}`" if err and sig == signal.SIGINT else ""
        status = f"exit {proc.returncode}" + (" (finished before the signal)" if finished else last)
        row(f"{name} at {delay:.1f} s", f"{status}; {state(out)}", resumed(config, out, reference))


def main(kills: int, interrupts: int, seed: int) -> None:
    rng = random.Random(seed)
    tmp = Path(tempfile.mkdtemp(prefix="trajax-faults-"))
    config = tmp / "chain.toml"
    config.write_text(CHAIN)
    start = time.perf_counter()
    assert cli("sweep", config, "--out", tmp / "ref", "--quiet").returncode == 0
    wall = time.perf_counter() - start
    reference = tmp / "ref"
    print(f"reference run: {wall:.1f} s wall, 9 cells\n")
    print("| fault | state after it | rerun of the same command |\n|---|---|---|")
    signals(tmp, config, reference, wall, kills, signal.SIGKILL, rng)
    signals(tmp, config, reference, wall, interrupts, signal.SIGINT, rng)

    for delay in (0.2, 0.6, 1.0, 1.4, 1.8, 2.2, 2.6, 3.0):  # Ctrl-C early on, while Python imports JAX
        out = tmp / f"early{delay}"
        command = [sys.executable, "-m", "trajax", "sweep", str(config), "--out", str(out), "--quiet"]
        proc = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=ENV,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )  # fmt: skip
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        err = proc.communicate()[1].strip().splitlines()
        before = f"exit {proc.returncode} `{err[-1][:70] if err else ''}`; {state(out)}"
        row(f"SIGINT at {delay:.1f} s", before, resumed(config, out, reference))

    for after in (1, 5):
        out = tmp / f"between{after}"
        run = cli(after, "sweep", config, "--out", out, "--quiet", prefix=(sys.executable, "-c", KILLER))
        before = f"exit {run.returncode}; {state(out)}"
        row(f"SIGKILL after record {after}, before its tables", before, resumed(config, out, reference))

    tears = {
        "cells.csv cut mid-row": lambda o: (o / "cells.csv").write_text((o / "cells.csv").read_text()[:-30]),
        "timings.csv deleted": lambda o: (o / "timings.csv").unlink(),
        "summary.json torn": lambda o: (o / "summary.json").write_text('{"cells": ['),
        "a record deleted": lambda o: (o / "records" / "m8_T16.json").unlink(),
        "stray temp files": lambda o: (o / ".cells.0123abcd.tmp.csv").write_text("x"),
        "a record torn": lambda o: (o / "records" / "m8_T16.json").write_text('{"fingerprint": "ab'),
        "records/ deleted (an older layout)": lambda o: shutil.rmtree(o / "records"),
    }
    for name, tear in tears.items():
        out = tmp / name.replace(" ", "_").replace("/", "")
        shutil.copytree(reference, out)
        tear(out)
        before = state(out)
        row(name, before, resumed(config, out, reference))

    budget = "[run]\nbatch_size = 2\nmax_cell_mb = 0.001\n"
    for i, (label, text, extra) in enumerate([
        ("chain (per-cell programs): batch_size 16 → 2, max_cell_mb 1024 → 0.001", CHAIN, budget),
        ("LDS (nested windows): batch_size 16 → 4", LDS, "[run]\nbatch_size = 4\n"),
        ("LDS: nested windows → per-cell streamed (max_cell_mb 0.001)", LDS, budget),
    ]):  # fmt: skip
        base, changed = tmp / f"base{i}.toml", tmp / f"changed{i}.toml"
        base.write_text(text)
        changed.write_text(text + extra)
        ref, out = tmp / f"ref{i}", tmp / f"budget{i}"
        cli("sweep", base, "--out", ref, "--quiet")
        cli(3, "sweep", base, "--out", out, "--quiet", prefix=(sys.executable, "-c", KILLER))
        before = state(out)
        outcome = resumed(changed, out, ref)
        if "DIFFERENT" in outcome:
            outcome += f"; {max_relative_difference(out / 'cells.csv', ref / 'cells.csv')}"
        row(f"killed after 3 cells, resumed with {label}", before, outcome)
    out = tmp / "devices"
    cli(
        4, "sweep", config, "--out", out, "--quiet", "--cpu-devices", 2, prefix=(sys.executable, "-c", KILLER)
    )
    row("killed after 4 cells on 2 CPU devices, resumed on 1", state(out),
        resumed(config, out, reference, "--cpu-devices", 1))  # fmt: skip

    (tmp / "file").write_text("x")
    for name, args in {
        "--out is a file": (config, "--out", tmp / "file"),
        "--out below a file": (config, "--out", tmp / "file" / "out"),
        "--out unwritable (/sys as root)": (config, "--out", "/sys/trajax-out"),
        "config path is a directory": (tmp, "--out", tmp / "x"),
        "other config into a finished --out": (tmp / "chain2.toml", "--out", reference),
    }.items():
        (tmp / "chain2.toml").write_text(CHAIN.replace("replicates = 64", "replicates = 32"))
        run = cli("sweep", *args, "--quiet")
        lines = run.stderr.strip().splitlines()
        row(name, f"exit {run.returncode}, {len(lines)} line", f"`{lines[-1][:170]}`" if lines else "")


def edited_model() -> None:
    """The one-class AR(1) of tests/test_fingerprint.py, swept, its simulator edited (data now
    from a = 0.95 while the truth says 0.5), and swept again into the same directory."""
    import importlib.util

    sys.path.insert(0, str(ROOT))  # this checkout's trajax, as the child processes use
    import jax
    import jax.numpy as jnp

    import trajax as tj

    jax.config.update("jax_enable_x64", True)
    source = (ROOT / "tests" / "test_fingerprint.py").read_text().split('AR1_SOURCE = """')[1].split('"""')[0]
    tmp = Path(tempfile.mkdtemp(prefix="trajax-edited-"))

    def load(name, simulated):
        path = tmp / f"{name}.py"
        path.write_text(source.format(drift="a * z", noise="1.0", version="", simulated=simulated))
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.AR1(a=jnp.asarray(0.5), scale=1.0)

    grid = dict(m=[16], T=[32], replicates=50, key=jax.random.key(0), fisher_samples=500, progress=False)
    first = tj.sweep(load("ar1", "drift(self.a, z)"), **grid, out=tmp / "out")
    edited = load("ar1_edited", "0.95 * z")
    try:
        tj.sweep(edited, **grid, out=tmp / "out")
        outcome = "NOT REFUSED"
    except ValueError as err:
        outcome = f"refused: `...holds {str(err).split(' holds ')[1][:54]}...`"
    forced = tj.sweep(edited, **grid, out=tmp / "out", force=True)
    before = f"ratio before the edit {first.table[0]['ratio']:.2f}"
    row("simulator of a one-class model edited, then rerun", before,
        f"{outcome}; with force=True: ratio {forced.table[0]['ratio']:.0f}")  # fmt: skip


def max_relative_difference(a: Path, b: Path) -> str:
    import numpy as np

    x = np.genfromtxt(a, delimiter=",", skip_header=1)
    y = np.genfromtxt(b, delimiter=",", skip_header=1)
    finite = np.isfinite(x) & np.isfinite(y) & (y != 0)
    return f"max relative difference {np.max(np.abs(x - y)[finite] / np.abs(y[finite])):.1e}"


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--kills", type=int, default=12)
    parser.add_argument("--interrupts", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--edited-model", action="store_true", help="only the edited-model trial")
    args = parser.parse_args()
    edited_model() if args.edited_model else main(args.kills, args.interrupts, args.seed)
