"""Writes the benchmark figures of docs/performance.md and docs/scale.md from benchmarks/results/.

    python docs/gen_figures.py           # rewrites the generated blocks in those pages
    python docs/gen_figures.py --check   # exit 1 when a generated block differs from the JSON

A generated block sits between `<!-- figures:NAME -->` and `<!-- /figures:NAME -->`; NAME is one
of the renderers in `BLOCKS`, each reading the committed JSON of one benchmark. The prose around
the blocks carries no measured figure, so `make bench` (which calls this) refreshes every number
and tests/test_doc_pages.py fails when a page is stale.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
PAGES = (ROOT / "docs" / "performance.md", ROOT / "docs" / "scale.md")
_BLOCK = re.compile(r"(<!-- figures:([\w-]+) -->\n)(.*?)(<!-- /figures:\2 -->)", re.S)


def load(name: str) -> dict | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


# ---------------------------------------------------------------------------- formatting
def sec(x: float) -> str:
    """Seconds: 158 s, 12.6 s, 5.58 s, 0.62 s."""
    return f"{x:.0f} s" if x >= 100 else f"{x:.1f} s" if x >= 10 else f"{x:.2f} s"


def ms(x: float) -> str:
    return f"{x * 1e3:.0f} ms" if x >= 0.01 else f"{x * 1e3:.2g} ms"


def gb(n_bytes: float) -> str:
    return f"{n_bytes / 1e9:.2f} GB"


def mib(n_bytes: float) -> str:
    return f"{n_bytes / 2**20:.0f} MiB"


def times(x: float) -> str:
    return f"{x:.1f}×" if x < 10 else f"{x:.0f}×"


def commit(r: dict) -> str:
    return str(r.get("commit", "?"))[:7]


def table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _shapes(shapes: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in shapes.items())


# ---------------------------------------------------------------------------- performance.md
def summary() -> str:
    """One row per benchmark (and its `_gpu` twin when one was recorded)."""
    rows = []
    for name in ("main_job", "simulate", "fisher", "stderr", "streaming", "dynamax_chain"):
        for suffix, r in ((s, load(name + s)) for s in ("", "_gpu")):
            if r is None or "skipped" in r:
                continue
            t, b = r["trajax"], r["baseline"]
            if name == "main_job":
                ours = f"{sec(t['total_s'])} (compile {sec(t['compile_s'])}, run {sec(t['run_s'])})"
                theirs, ratio = sec(b["total_s"]), f"{r['speedup_end_to_end']:.2f}× end to end"
            elif name == "simulate":
                ours = f"{ms(t['run_s'])}, {t['steps_per_s']:.3g} steps/s"
                theirs, ratio = ms(b["run_s"]), f"{r['speedup_run_only']:.2f}×"
            elif name == "fisher":
                ours = (
                    f"autodiff {ms(t['run_s'])}, fused {ms(t['fused_run_s'])} (compile {sec(t['compile_s'])})"
                )
                theirs = ms(b["run_s"])
                ratio = (f"{r['speedup_run_only']:.0f}× autodiff, {r['speedup_fused']:.0f}× fused; "
                         f"max rel. diff {r['max_relative_difference']:.0e}")  # fmt: skip
            elif name == "stderr":
                ours, theirs = f"{ms(t['run_s'])} (compile {sec(t['compile_s'])})", ms(b["run_s"])
                ratio = f"{r['speedup_run_only']:.1f}×, SEs agree to {r['max_relative_se_difference']:.0e}"
            elif name == "streaming":
                ours = (f"{sec(t['run_s'])}, {t['transitions_per_s']:.3g} transitions/s, "
                        f"peak RSS {t['peak_rss_mb']:.0f} MB")  # fmt: skip
                theirs, ratio = f"data would take {b['data_gb']:.0f} GB", "—"
            else:  # dynamax_chain
                ts, tf, bs, bf = t["simulate"], t["fit"], b["simulate"], b["fit"]
                ours = f"simulate {ms(ts['run_s'])}, fit {ms(tf['run_s'])}"
                theirs = f"simulate {ms(bs['run_s'])}, fit (EM) {ms(bf['run_s'])}"
                ratio = (f"{r['speedup_simulate']:.1f}× simulate, {r['speedup_fit']:.0f}× fit; "
                         f"same P̂ to {r['max_abs_difference_P']:.0e}")  # fmt: skip
            shapes = f"{_shapes(r['shapes'])}, {r['dtype']}"
            rows.append([name + suffix, r["device"], commit(r), shapes, ours, theirs, ratio, r["target"]])
    header = ["benchmark", "device", "commit", "shapes, dtype", "trajax", "baseline", "ratio", "target"]
    return table(header, rows)


def baselines() -> str:
    """What each benchmark's baseline is, as its JSON names it."""
    rows = []
    for name in ("main_job", "simulate", "fisher", "stderr", "streaming", "dynamax_chain", "kernels"):
        r = load(name)
        if r is not None and "skipped" not in r:
            rows.append([name, r["baseline"]["name"]])
    return table(["benchmark", "baseline (run in the same process)"], rows)


def main_job() -> str:
    r = load("main_job")
    t, b = r["trajax"], r["baseline"]
    lo = {k: min(x["ratio_to_theory"].values()) for k, x in (("t", t), ("b", b))}
    hi = {k: max(x["ratio_to_theory"].values()) for k, x in (("t", t), ("b", b))}
    rows = [
        ["end to end", sec(t["total_s"]), sec(b["total_s"]), f"{r['speedup_end_to_end']:.2f}×"],
        ["compile", f"{sec(t['compile_s'])} ({t['num_compilations']} programs)", "—", ""],
        [
            "run (simulation and fits)",
            sec(t["run_s"]),
            "",
            f"{r['speedup_run_only']:.2f}× (baseline total / run)",
        ],
        ["failed fits", t["failed_fits"], b["failed_fits"], ""],
        [
            f"ratio mse / theory over the {len(t['ratio_to_theory'])} cells",
            f"{lo['t']:.2f} to {hi['t']:.2f}",
            f"{lo['b']:.2f} to {hi['b']:.2f}",
            "",
        ],
    ]
    note = f"Commit {commit(r)}, {r['num_devices']} CPU devices, {r['dtype']}."
    return table(["", "trajax", "NumPy/SciPy", "ratio"], rows) + "\n\n" + note


def simulate_breakdown() -> str:
    r = load("simulate")
    t, b = r["trajax"]["breakdown_s"], r["baseline"]["breakdown_s"]
    total = r["baseline"]["run_s"]
    rows = [
        ["noise draws", ms(t["noise_draw"]), ms(b["normals_alone"])],
        ["recursion over the steps", ms(t["recursion_given_noise"]), ms(total - b["normals_alone"])],
        ["total", ms(r["trajax"]["run_s"]), ms(total)],
    ]
    note = (f"NumPy's recursion is its total minus its normals. Commit {commit(r)}, "
            f"{_shapes(r['shapes'])}, {r['dtype']}.")  # fmt: skip
    return table(["part", "trajax", "NumPy"], rows) + "\n\n" + note


KERNELS = {
    "uniform_f32": "float32 uniforms: straight-line threefry (`trajax/_random.py`) against "
    "`jax.random.uniform`, same bits",
    "cos_2pi_f64": "cos(2πu) in float64: the Student-t sampler's polynomial against `jnp.cos`",
    "student_t_f64": "Student-t draws (ν = 5, float64): Bailey's polar method against Z/√(χ²_ν/ν)",
    "student_t_expm1_f64": "the same draws with the polynomial float64 `expm1` against `jnp.expm1`",
    "lds_window_terms": "linear-system Newton terms on sweep windows: coordinates first against einsums",
    "lds_whole_terms": "linear-system Newton terms on a whole data set: einsums against coordinates first",
}


def kernels() -> str:
    r = load("kernels")
    t, b = r["trajax"]["kernels_s"], r["baseline"]["kernels_s"]
    rows = [
        [f"`{k}`", what, ms(t[k]), ms(b[k]), times(r["speedups"][k])] for k, what in KERNELS.items() if k in t
    ]
    note = f"Commit {commit(r)}, {r['shapes']['draws']} draws, compile excluded, best of 3."
    return table(["kernel", "what", "trajax", "replaced", "speedup"], rows) + "\n\n" + note


# ---------------------------------------------------------------------------- scale.md
def _run_row(run: dict, baseline_s: float, base_r: int) -> list:
    return [
        run["replicates"], sec(run["wall_s"]), sec(run["compile_s"]), sec(run["run_s"]),
        ms(run["run_s_per_replicate"]), sec(run["fixed_s"]), run["compilations"], run["blocks"],
        gb(run["peak_rss_bytes"]), times(baseline_s * run["replicates"] / base_r / run["wall_s"]),
    ]  # fmt: skip


def scaling() -> str:
    r = load("scaling")
    base, base_r = r["baseline"]["seconds"], r["baseline"]["measured_at_replicates"]
    devices = max(run["devices"] for run in r["runs"])
    rows = [_run_row(run, base, base_r) for run in r["runs"] if run["devices"] == devices]
    header = ["R", "end to end", "compile", "run", "run per replicate", "fixed", "compilations",
              "blocks", "peak RSS", "vs NumPy/SciPy"]  # fmt: skip
    repeats = sorted(run["wall_s"] for run in r.get("repeats_at_smallest_R", []))
    smallest = min(run["replicates"] for run in r["runs"])
    first = next(run for run in r["runs"] if run["replicates"] == smallest and run["devices"] == devices)
    before, after = r["baseline"]["seconds_before_and_after"]
    notes = [
        f"Commit {commit(r)}, {devices} CPU devices on {r['cores']} cores, {r['dtype']}; "
        f"{_shapes({k: v for k, v in r['shapes'].items() if k != 'replicates'})}.",
        f"The row at R = {smallest} is the median of {len(repeats)} runs ({', '.join(map(sec, repeats))}).",
        f"Working set {gb(first['working_set_bytes_per_device'])} per device against a budget of "
        f"{mib(first['budget_bytes_per_device'])} each.",
        f"The NumPy/SciPy baseline took {sec(before)} at R = {base_r} (the faster of a run before "
        f"the sweeps and one after, {sec(after)}), scaled linearly in R.",
    ]
    return table(header, rows) + "\n\n" + " ".join(notes)


def devices() -> str:
    r = load("scaling")
    counts = sorted({run["devices"] for run in r["runs"]})
    rows = []
    for R in sorted({run["replicates"] for run in r["runs"]}):
        by = {run["devices"]: run for run in r["runs"] if run["replicates"] == R}
        if len(by) == len(counts):
            rows.append([R, *(f"{sec(by[n]['wall_s'])} (run {sec(by[n]['run_s'])})" for n in counts)])
    return table(["R", *(f"{n} CPU device{'s' if n > 1 else ''}" for n in counts)], rows)


def warm_cache() -> str:
    w = load("scaling")["warm_cache"]
    cold, warm = w["filling_run"], w["run"]
    rows = [
        ["cold (fills the cache)", sec(cold["compile_s"]), sec(cold["wall_s"])],
        ["warm", sec(warm["compile_s"]), sec(warm["wall_s"])],
    ]
    return table([f"R = {warm['replicates']}", "compile", "end to end"], rows)


def memory_cell() -> str:
    c = load("scaling")["memory_cell"]
    budget = mib(c["budget_bytes_per_device"])
    rows = [
        ["cell", f"{_shapes(c['shapes'])}, {c['dtype']}"],
        ["its data, if held", gb(c["data_bytes_if_materialised"])],
        ["settings", c["settings"]],
        ["streamed", f"{c['stream_chunk']} trajectories at a time"],
        ["working set per device", f"{mib(c['working_set_bytes_per_device'])} (budget {budget})"],
        ["peak RSS", gb(c["peak_rss_bytes"])],
        ["end to end", f"{sec(c['wall_s'])} on {c['devices']} CPU devices"],
        ["failed fits", c["failed_fits"]],
    ]
    return table(["", "`memory_cell`"], rows)


def compile_options() -> str:
    r = load("compile_options")
    t, b = r["trajax"], r["baseline"]
    rows = []
    for case in r["shapes"]:
        for label, s in (("loop emitters (default)", t), ("fusion emitters", b)):
            c = s[case]
            rows.append([f"`{case}`", label, sec(c["compile_s"]), sec(c["run_s"]), sec(c["wall_s"])])
    same = all(r["same_cells_csv"].values())
    note = (f"Medians of {r['repeats']} interleaved cold runs, commit {commit(r)}; the same cells.csv "
            f"with both settings: {'yes' if same else 'no'}.")  # fmt: skip
    return table(["config", "setting", "compile", "run", "end to end"], rows) + "\n\n" + note


def streaming() -> str:
    r = load("streaming")
    t = r["trajax"]
    rows = [
        ["transitions", f"{r['shapes']['transitions']:.0e} (m = {r['shapes']['m']}, T = {r['shapes']['T']})"],
        ["chunk", f"{r['shapes']['chunk']} trajectories"],
        ["run", f"{sec(t['run_s'])} ({t['transitions_per_s']:.3g} transitions/s)"],
        ["peak RSS", f"{t['peak_rss_mb']:.0f} MB (the data would take {r['baseline']['data_gb']:.0f} GB)"],
        ["squared error / Cramér–Rao", f"{r['error_over_theory']:.2f}"],
    ]  # fmt: skip
    return table(["", f"streaming fit, commit {commit(r)}, {r['dtype']}"], rows)


BLOCKS = {
    "summary": summary,
    "baselines": baselines,
    "main-job": main_job,
    "simulate-breakdown": simulate_breakdown,
    "kernels": kernels,
    "scaling": scaling,
    "devices": devices,
    "warm-cache": warm_cache,
    "memory-cell": memory_cell,
    "compile-options": compile_options,
    "streaming": streaming,
}


# ---------------------------------------------------------------------------- pages
def render(text: str) -> str:
    """`text` with every generated block replaced by what its renderer writes now."""

    def replace(match):
        name = match.group(2)
        if name not in BLOCKS:
            raise KeyError(f"no renderer for <!-- figures:{name} -->; expected one of {sorted(BLOCKS)}")
        return f"{match.group(1)}{BLOCKS[name]()}\n{match.group(4)}"

    return _BLOCK.sub(replace, text)


def blocks_used(text: str) -> list[str]:
    return [m.group(2) for m in _BLOCK.finditer(text)]


def main(argv: list[str]) -> int:
    stale = []
    for page in PAGES:
        text = page.read_text()
        new = render(text)
        if new != text:
            stale.append(page)
            if "--check" not in argv:
                page.write_text(new)
                print(f"wrote {page.relative_to(ROOT)}")
    if "--check" in argv and stale:
        names = ", ".join(str(p.relative_to(ROOT)) for p in stale)
        print(f"{names} stale: run `python docs/gen_figures.py`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
