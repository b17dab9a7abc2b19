"""merge_shards: one sweep's results from the job-array shards in its output directory.

`sweep(..., out=DIR, shard=(I, N))` (`trajax sweep CONFIG --out DIR --shard I/N`) writes the
records of replicates ⌊I·R/N⌋ ≤ r < ⌊(I+1)·R/N⌋ of every cell to `DIR/shard-I-of-N/`. Since
replicate r's data are `fold_in(data_key, r)` whichever process computes it, concatenating the
shards' per-replicate results in replicate order gives the arrays of a single run, and
summarising them with the same code (`_replicates.cell_row`) gives its rows bit for bit.
"""

from __future__ import annotations

import json
from pathlib import Path

from ._fingerprint import first_difference, identity
from ._records import SweepWriter, read_records
from ._replicates import block_size, cell_row, concatenate_blocks, shard_range
from ._sweep_result import assemble
from ._timing import Timing

__all__ = ["merge_shards"]


def _read_shard(directory: Path):
    """(shard info, the sweep's resolved config without the shard, records) of a shard dir."""
    try:
        config = json.loads((directory / "config.json").read_text())
        info = config["shard"]
        index, count, first, stop = (int(info[k]) for k in ("index", "count", "first", "stop"))
    except (OSError, ValueError, KeyError, TypeError):
        raise ValueError(
            f"merge: {directory} is not a finished-cell shard directory (no readable config.json "
            "with a shard); rerun that shard or delete the directory"
        ) from None
    base = {k: v for k, v in config.items() if k not in ("fingerprint", "shard")}
    return (index, count, first, stop), base, read_records(directory)


def _missing(out: Path, cell, lo: int, hi: int, counts: set, R: int) -> ValueError:
    m, T = cell
    if len(counts) == 1:
        (count,) = counts
        index = next(i for i in range(count) if shard_range((i, count), R)[1] > lo)
        return ValueError(
            f"merge: shard {index}/{count} is missing or unfinished (cell m={m} T={T} lacks replicates "
            f"{lo}..{hi - 1}); run `trajax sweep CONFIG --out {out} --shard {index}/{count}` "
            "(it resumes), then merge again"
        )
    return ValueError(f"merge: replicates {lo}..{hi - 1} of cell m={m} T={T} are in no shard under {out}")


def merge_shards(out, *, progress: bool = False):
    """Merges the shards in `out/shard-*` into `out/` and returns the merged `SweepResult`.

    Checks that every shard belongs to the same sweep (its fingerprint without the shard) and
    that, for every cell, the shards' replicates are 0..R−1 each exactly once; otherwise a
    one-line ValueError names the missing or duplicated shard. Then writes `out/records/`,
    cells.csv, timings.csv, replicates.csv, summary.json and rates.png, equal (timings and the
    device of the merging process aside) to those of a single run of the same sweep.
    Per-cell timings are summed over the shards.

    Example:
        >>> import jax, tempfile, trajax as tj
        >>> out = tempfile.mkdtemp()
        >>> for i in range(2):
        ...     _ = tj.sweep(tj.TwoStateChain(theta=0.8), m=[8], T=[16], replicates=6, key=jax.random.key(0),
        ...                  out=out, shard=(i, 2), progress=False)
        >>> merged = tj.merge_shards(out)
        >>> [r["replicate"] for r in merged.replicates]
        [0, 1, 2, 3, 4, 5]
    """
    out = Path(out)
    if not out.is_dir():
        raise ValueError(f"merge: {out} is not a directory")
    directories = sorted((p for p in out.glob("shard-*") if p.is_dir()), key=lambda p: p.name)
    if not directories:
        raise ValueError(
            f"merge: {out} holds no shard directories (`trajax sweep CONFIG --out {out} --shard I/N` "
            "writes them)"
        )
    shards = [(d, *_read_shard(d)) for d in directories]
    reference = identity(shards[0][2])
    for directory, _, base, _ in shards[1:]:
        if identity(base) != reference:
            what = first_difference(reference, identity(base))
            raise ValueError(
                f"merge: {directory.name} is a shard of a different sweep than {shards[0][0].name} "
                f"({what} differs); remove it or merge it elsewhere"
            )
    config = shards[0][2]
    R = int(config["replicates"])
    counts = {info[1] for _, info, _, _ in shards}
    cells = [(int(mi), int(Ti)) for Ti in config["T"] for mi in config["m"]]
    merged = {}
    for cell in cells:
        parts = []
        for directory, _, _, records in shards:
            if cell in records:
                if records[cell][3] is None:
                    raise ValueError(f"merge: {directory} has no per-replicate results for cell {cell}")
                parts.append((records[cell][3]["first"], directory, records[cell]))
        parts.sort(key=lambda part: (part[0], part[1].name))
        position, owner = 0, None
        for first, directory, (_, _, _, block) in parts:
            if first < position:
                raise ValueError(
                    f"merge: {directory.name} duplicates replicates {first}..{position - 1} of "
                    f"{owner.name} (cell m={cell[0]} T={cell[1]}): a duplicated shard; remove one, "
                    "then merge again"
                )
            if first > position:
                raise _missing(out, cell, position, first, counts, R)
            position, owner = first + block_size(block), directory
        if position < R:
            raise _missing(out, cell, position, R, counts, R)
        block = concatenate_blocks([record[3] for _, _, record in parts])
        shard_row = parts[0][2][1]
        row = cell_row(*cell, block, shard_row["theory"], shard_row["theory_se"], shard_row["p"])
        timing = Timing.of_shards(*cell, [record[2] for _, _, record in parts]).as_dict()
        merged[cell] = (row, timing, block)
    writer = SweepWriter(out, config, resume=True)
    for row, timing, block in merged.values():
        writer.commit(row, timing, block)
    result = assemble(cells, merged, config)
    writer.finish(result)
    if progress:
        print(f"trajax: merged {len(shards)} shards of {len(cells)} cells into {out}", flush=True)
    return result
