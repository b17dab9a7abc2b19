"""Builds the README performance table from the committed JSON results.

python -m benchmarks.report [--write]   # --write replaces the block between the markers
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
README = Path(__file__).parent.parent / "README.md"
BEGIN, END = "<!-- perf-table:begin -->", "<!-- perf-table:end -->"


def _load(name):
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def table() -> str:
    rows = [
        "| benchmark | device | commit | shapes, dtype | trajax | baseline | ratio | target |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in ("main_job", "simulate", "fisher", "stderr", "streaming", "dynamax_chain"):
        for suffix, r in ((s, _load(name + s)) for s in ("", "_gpu")):
            if r is None or "skipped" in r:
                continue
            shapes = ", ".join(f"{k}={v}" for k, v in r["shapes"].items())
            t, b = r["trajax"], r["baseline"]
            if name == "main_job":
                ours = f"{t['total_s']:.1f} s (compile {t['compile_s']:.1f} s, run {t['run_s']:.1f} s)"
                theirs, ratio = f"{b['total_s']:.1f} s", f"{r['speedup_end_to_end']:.2f}× end to end"
            elif name == "simulate":
                ours = f"{t['run_s'] * 1e3:.0f} ms, {t['steps_per_s']:.3g} steps/s"
                theirs, ratio = f"{b['run_s'] * 1e3:.0f} ms", f"{r['speedup_run_only']:.2f}×"
            elif name == "streaming":
                ours = f"{t['run_s']:.1f} s, {t['transitions_per_s']:.3g} transitions/s, peak RSS {t['peak_rss_mb']:.0f} MB"
                theirs, ratio = f"data would take {b['data_gb']:.0f} GB", "—"
            elif name == "dynamax_chain":
                ts, tf, bs, bf = t["simulate"], t["fit"], b["simulate"], b["fit"]
                ours = f"simulate {ts['run_s'] * 1e3:.0f} ms, fit {tf['run_s'] * 1e3:.1f} ms"
                theirs = f"simulate {bs['run_s'] * 1e3:.0f} ms, fit (EM) {bf['run_s'] * 1e3:.0f} ms"
                ratio = (f"{r['speedup_simulate']:.1f}× simulate, {r['speedup_fit']:.0f}× fit; "
                         f"same P̂ to {r['max_abs_difference_P']:.0e}")  # fmt: skip
            elif name == "stderr":
                ours = f"{t['run_s'] * 1e3:.1f} ms (compile {t['compile_s']:.1f} s)"
                theirs = f"{b['run_s'] * 1e3:.1f} ms"
                ratio = f"{r['speedup_run_only']:.1f}×, SEs agree to {r['max_relative_se_difference']:.0e}"
            else:
                ours = f"autodiff {t['run_s'] * 1e3:.1f} ms, fused {t['fused_run_s'] * 1e3:.1f} ms (compile {t['compile_s']:.1f} s)"
                theirs = f"{b['run_s'] * 1e3:.0f} ms"
                ratio = (f"{r['speedup_run_only']:.0f}× autodiff, {r['speedup_fused']:.0f}× fused; "
                         f"max rel. diff {r['max_relative_difference']:.0e}")  # fmt: skip
            rows.append(
                f"| {name}{suffix} | {r['device']} | {str(r.get('commit', '?'))[:7]} | {shapes}, {r['dtype']} "
                f"| {ours} | {theirs} | {ratio} | {r['target']} |"
            )
    return "\n".join(rows)


def main(write: bool = False) -> str:
    text = table()
    if write:
        readme = README.read_text()
        start, end = readme.index(BEGIN) + len(BEGIN), readme.index(END)
        README.write_text(readme[:start] + "\n" + text + "\n" + readme[end:])
    print(text)
    return text


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--write", action="store_true")
    main(**vars(parser.parse_args()))
