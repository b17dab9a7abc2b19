"""Per-replicate results of a sweep cell, and the job-array split of the replicates.

A cell's replicates are kept as a *block*: a JSON-ready dict of equal-length lists over the
replicates `first, first + 1, ...` (replicate r always uses `fold_in(data_key, r)`):

    {"first": int, "theta": [[θ̂_1..θ̂_p], ...], "sq_err": [‖Δ‖², ...],
     "fisher_stat": [m·ΔᵀI_TΔ, ...], "code": [tj.RESULTS code, ...], "wald_coverage": [...]}

Floats are Python floats (exact copies of the device values), so a block read back from a
record's JSON summarises to the same row, bit for bit, as the block it was written from: a
single run and a merge of job-array shards both build their rows with `cell_row` on blocks.
"""

from __future__ import annotations

import numpy as np

from ._results import failure_counts, reason_name
from ._stats import summarize_cell

__all__ = ["make_block", "concatenate_blocks", "cell_row", "replicate_rows", "shard_range", "parse_shard"]

BLOCK_KEYS = ("theta", "sq_err", "fisher_stat", "code", "wald_coverage")


def make_block(first: int, sq_err, fisher_stat, codes, wald, theta) -> dict:
    """A block from a cell's gathered per-replicate arrays ((R,) each, θ̂ (R, p))."""
    theta = np.asarray(theta)
    return {
        "first": int(first),
        "theta": np.asarray(theta, float).reshape(theta.shape[0], -1).tolist(),
        "sq_err": np.asarray(sq_err, float).tolist(),
        "fisher_stat": np.asarray(fisher_stat, float).tolist(),
        "code": np.asarray(codes, int).tolist(),
        "wald_coverage": np.asarray(wald, float).tolist(),
    }


def block_size(block: dict) -> int:
    return len(block["sq_err"])


def concatenate_blocks(blocks) -> dict:
    """One block from blocks that follow each other (replicate order; checked)."""
    blocks = sorted(blocks, key=lambda b: b["first"])
    out = {"first": blocks[0]["first"], **{k: [] for k in BLOCK_KEYS}}
    expected = out["first"]
    for block in blocks:
        if block["first"] != expected:
            raise ValueError(f"replicates: blocks do not follow each other at replicate {expected}")
        for k in BLOCK_KEYS:
            out[k].extend(block[k])
        expected += block_size(block)
    return out


def cell_row(m: int, T: int, block: dict, theory: float, theory_se: float, p: int) -> dict:
    """The table row of cell (m, T) from its block (`summarize_cell` + `failure_counts`)."""
    codes = np.asarray(block["code"], int)
    row = summarize_cell(
        m,
        T,
        np.asarray(block["sq_err"], float),
        np.asarray(block["fisher_stat"], float),
        codes == 0,
        theory,
        p,
        wald_coverage=np.asarray(block["wald_coverage"], float),
        theory_se=theory_se,
    )
    row.update(failure_counts(codes))
    return row


def replicate_rows(m: int, T: int, block: dict) -> list[dict]:
    """One dict per replicate: m, T, replicate, theta (list of p floats), sq_err, fisher_stat,
    code, reason (the `tj.RESULTS` member's name), wald_coverage."""
    first = block["first"]
    return [
        {
            "m": int(m),
            "T": int(T),
            "replicate": first + i,
            "theta": list(theta),
            "sq_err": sq,
            "fisher_stat": stat,
            "code": code,
            "reason": reason_name(code),
            "wald_coverage": wald,
        }
        for i, (theta, sq, stat, code, wald) in enumerate(zip(*(block[k] for k in BLOCK_KEYS), strict=True))
    ]


def replicates_csv_rows(rows: list[dict]) -> list[dict]:
    """`replicate_rows` flattened for CSV: theta becomes columns theta_0, ..., theta_{p−1}."""
    out = []
    for r in rows:
        flat = {k: v for k, v in r.items() if k != "theta"}
        flat.update({f"theta_{j}": v for j, v in enumerate(r["theta"])})
        out.append(flat)
    return out


REPLICATE_COLUMNS = ("m", "T", "replicate", "sq_err", "fisher_stat", "code", "reason", "wald_coverage")


def shard_range(shard, replicates: int) -> tuple[int, int]:
    """Replicates [lo, hi) of job-array shard (I, N): the I-th of N contiguous shares,
    lo = ⌊I·R/N⌋, hi = ⌊(I+1)·R/N⌋. One-line ValueError for a bad shard."""
    if (
        not isinstance(shard, tuple | list)
        or len(shard) != 2
        or not all(isinstance(x, int | np.integer) and not isinstance(x, bool) for x in shard)
    ):
        raise ValueError(f"shard: expected (I, N) with 0 <= I < N, got {shard!r}")
    index, count = int(shard[0]), int(shard[1])
    if count < 1 or not 0 <= index < count:
        raise ValueError(f"shard: expected 0 <= I < N, got {index}/{count}")
    if count > replicates:
        raise ValueError(f"shard: {count} shards exceed the {replicates} replicates; use at most that many")
    return index * replicates // count, (index + 1) * replicates // count


def parse_shard(text: str) -> tuple[int, int]:
    """'I/N' → (I, N), checked for 0 <= I < N (one-line ValueError naming --shard)."""
    try:
        index, count = (int(x) for x in text.split("/"))
    except ValueError:
        raise ValueError(f"--shard: expected I/N such as 3/10, got {text!r}") from None
    if count < 1 or not 0 <= index < count:
        raise ValueError(f"--shard: expected I/N with 0 <= I < N, got {text!r}")
    return index, count


def shard_dir_name(index: int, count: int) -> str:
    """The sub-directory of `out` that holds shard I/N."""
    return f"shard-{index}-of-{count}"
