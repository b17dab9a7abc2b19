"""A sweep's output directory: one record per finished cell, written atomically, and every
other file derived from the records.

Layout of `out/`: `records/m<m>_T<T>.json` (one per finished cell: its row, its timing, its
per-replicate results (a block, see `_replicates`) and the sweep's fingerprint), `config.json`
(the resolved config and its fingerprint), and, derived from the records, `cells.csv` and
`timings.csv` after every cell; `replicates.csv` (one row per (cell, replicate)), `summary.json`
and `rates.png` at the end. A job-array shard I/N writes the same layout in
`out/shard-I-of-N/`. A record is the commit point of a cell: a process killed at any moment
leaves whole records, and a rerun rebuilds every other file from them.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from pathlib import Path

from ._fingerprint import fingerprint, first_difference, identity
from ._jsonio import _to_json, atomic_write, csv_text, jsonable, remove_temporaries, temporary_path
from ._replicates import (
    BLOCK_KEYS,
    REPLICATE_COLUMNS,
    concatenate_blocks,
    replicate_rows,
    replicates_csv_rows,
)
from ._report import plot_rates, summary_text
from ._stats import CSV_COLUMNS
from ._timing import TIMING_COLUMNS

__all__ = ["SweepWriter", "atomic_write", "check_out_dir", "csv_text", "jsonable"]


def _probe(directory: Path) -> str | None:
    """None if a file can be created in `directory`, else the reason (no trace is left)."""
    if not os.access(directory, os.W_OK | os.X_OK):
        return "permission denied"
    probe = directory / f".trajax-probe.{secrets.token_hex(4)}.tmp"
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        probe.unlink()
    except OSError as err:
        return err.strerror or str(err)
    return None


def check_out_dir(out) -> Path:
    """`out` as a Path, after checking that results can be written there: it is a directory, or
    can be created as one, in a writable place. Creates nothing; raises a one-line ValueError."""
    out = Path(out)
    ancestor = out
    try:
        while not ancestor.exists() and ancestor != ancestor.parent:
            ancestor = ancestor.parent
    except OSError as err:
        raise ValueError(f"out: cannot reach {ancestor}: {err.strerror or err}") from None
    if not ancestor.is_dir():
        where = "is a file" if ancestor == out else f"lies below {ancestor}, which is a file"
        raise ValueError(f"out: {out} {where}; give a directory")
    reason = _probe(ancestor)
    if reason is not None:
        raise ValueError(f"out: cannot write in {ancestor} ({reason}); give a writable directory")
    return out


def read_records(directory: Path) -> dict:
    """{(m, T): (fingerprint, row, timing, block or None)} of the records in `directory`."""
    out = {}
    for path in sorted((directory / "records").glob("m*_T*.json")):
        try:
            record = json.loads(path.read_text())
            row, timing, fp = record["row"], record["timing"], record["fingerprint"]
            block = record.get("replicates")
            cell = (row["m"], row["T"])
            if path.name != f"m{cell[0]}_T{cell[1]}.json" or not isinstance(fp, str):
                raise ValueError("its cell does not match its name")
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ValueError(
                f"out: {path} is unreadable ({err}); delete it to recompute that cell, or pass "
                "--force (force=True) to start over"
            ) from None
        out[cell] = (fp, row, timing, block)
    return out


class SweepWriter:
    """Keeps `out/` in step with a sweep (see the module docstring for the layout).

    On construction it checks `out` (one-line ValueError: a file, below a file, unwritable) and
    reads the records already there: records of this sweep are resumed (unless `resume` is
    False, which refuses them), records of another sweep are refused unless `force`. Nothing
    is created or deleted until the first cell is finished, so a run refused by validation
    leaves `out` as it was.
    """

    def __init__(self, out, config: dict, *, resume: bool = True, force: bool = False):
        self.dir = check_out_dir(out)
        self.config = jsonable(config)
        self.fingerprint = fingerprint(identity(self.config))
        self.force, self.created = force, False
        self.rows: dict[tuple[int, int], tuple[dict, dict]] = {}
        self.blocks: dict[tuple[int, int], dict] = {}  # per-replicate results of each cell
        if force:
            return
        records = self._read_records()
        if not records and (self.dir / "cells.csv").exists():
            raise ValueError(
                f"out: {self.dir} holds cells.csv but no records/ (written by an older trajax); "
                "pass --force (force=True) to start over, or choose another --out"
            )
        if any(fp != self.fingerprint for fp, *_ in records.values()):
            old = self._old_identity()
            what = first_difference(old, identity(self.config)) if old is not None else None
            raise ValueError(
                f"out: {self.dir} holds results of a different sweep"
                f"{f' ({what} differs)' if what else ''}; pass --force (force=True) to discard "
                "them, or choose another --out"
            )
        if records and not resume:
            raise ValueError(
                f"out: {self.dir} already holds {len(records)} finished cells of this sweep; "
                "resume=True continues them, force=True starts over"
            )
        self.rows = {cell: (row, timing) for cell, (_, row, timing, _) in records.items()}
        self.blocks = {cell: block for cell, (_, _, _, block) in records.items() if block is not None}

    def _old_identity(self):
        try:
            old = json.loads((self.dir / "config.json").read_text())
            return identity({k: v for k, v in old.items() if k != "fingerprint"})
        except (OSError, ValueError, AttributeError):
            return None

    def _read_records(self) -> dict:
        return read_records(self.dir)

    def finished(self) -> dict:
        """{(m, T): (row, timing)} of the cells finished in earlier runs; their timings carry
        `resumed=True`."""
        return {cell: (row, {**timing, "resumed": True}) for cell, (row, timing) in self.rows.items()}

    def _create(self) -> None:
        records = self.dir / "records"
        records.mkdir(parents=True, exist_ok=True)
        if self.force:
            for path in records.glob("m*_T*.json"):
                path.unlink()
            for path in self.dir.glob("partial/r*-*.json"):
                path.unlink()
            for name in ("cells.csv", "timings.csv", "replicates.csv", "summary.json", "rates.png"):
                (self.dir / name).unlink(missing_ok=True)
        remove_temporaries(self.dir)
        remove_temporaries(records)
        config = {**self.config, "fingerprint": self.fingerprint}
        atomic_write(self.dir / "config.json", json.dumps(config, indent=2, sort_keys=True) + "\n")
        self.created = True

    def add(self, row: dict, timing: dict, block: dict | None = None) -> None:
        """Commits one finished cell: its record first (atomically), then the derived tables.
        `block`: the cell's per-replicate results (`_replicates.make_block`)."""
        self.commit(row, timing, block)
        self.write_tables()

    def commit(self, row: dict, timing: dict, block: dict | None = None) -> None:
        """Writes one cell's record (atomically), without the derived tables."""
        if not self.created:
            self._create()
        cell = (row["m"], row["T"])
        timing = {k: v for k, v in timing.items() if k != "resumed"}
        record = {"fingerprint": self.fingerprint, "row": row, "timing": timing}
        if "shard" in self.config:
            record["shard"] = self.config["shard"]
        if block is not None:
            record["replicates"] = {k: block[k] for k in ("first", *BLOCK_KEYS)}
        text = json.dumps(record, default=_to_json, separators=(",", ":")) + "\n"
        atomic_write(self.dir / "records" / f"m{cell[0]}_T{cell[1]}.json", text)
        self.rows[cell] = (row, timing)
        if block is not None:
            self.blocks[cell] = block

    # ---- per-block checkpoints of a multi-block nested sweep (`NestedWindows`) ----------------
    def save_partial(self, first: int, stop: int, blocks: dict) -> None:
        """Checkpoints the per-replicate results of replicates [first, stop) of every unfinished
        cell (`blocks`: {(m, T): block}) atomically in `partial/r<first>-<stop>.json`."""
        if not self.created:
            self._create()
        directory = self.dir / "partial"
        directory.mkdir(exist_ok=True)
        record = {
            "fingerprint": self.fingerprint,
            "first": int(first),
            "stop": int(stop),
            "cells": [
                [int(m), int(T), {k: b[k] for k in ("first", *BLOCK_KEYS)}] for (m, T), b in blocks.items()
            ],
        }
        text = json.dumps(record, default=_to_json, separators=(",", ":")) + "\n"
        atomic_write(directory / f"r{first}-{stop}.json", text)

    def partials(self, cells, first: int, stop: int) -> tuple[dict, int]:
        """({cell: block of replicates [first, x)}, x < stop): the checkpoints of this sweep that
        hold every one of `cells` and follow each other from replicate `first` (others are
        ignored: they are recomputed)."""
        found = {}
        for path in (self.dir / "partial").glob("r*-*.json"):
            try:
                record = json.loads(path.read_text())
                if record["fingerprint"] != self.fingerprint:
                    continue
                found[int(record["first"])] = record
            except (OSError, ValueError, KeyError, TypeError):
                continue  # a torn or foreign file: its replicates are recomputed
        blocks, x = {cell: [] for cell in cells}, first
        while x in found:
            record = found[x]
            held = {(int(m), int(T)): block for m, T, block in record["cells"]}
            if not all(cell in held for cell in cells) or int(record["stop"]) >= stop:
                break
            for cell in cells:
                blocks[cell].append(held[cell])
            x = int(record["stop"])
        if x == first:
            return {}, first
        return {cell: concatenate_blocks(b) for cell, b in blocks.items()}, x

    def remove_partials(self) -> None:
        """Deletes the checkpoints once every cell they served has its record."""
        directory = self.dir / "partial"
        if directory.is_dir():
            for path in directory.iterdir():
                path.unlink(missing_ok=True)
            directory.rmdir()

    def write_tables(self) -> None:
        """cells.csv and timings.csv from the records, cells in (T, m) order."""
        if not self.created:
            self._create()
        ordered = sorted(self.rows.values(), key=lambda rt: (rt[0]["T"], rt[0]["m"]))
        atomic_write(self.dir / "cells.csv", csv_text([r for r, _ in ordered], CSV_COLUMNS))
        atomic_write(self.dir / "timings.csv", csv_text([t for _, t in ordered], TIMING_COLUMNS))

    def write_replicates(self) -> None:
        """replicates.csv from the records (cells in (T, m) order). It grows with every cell, so
        it is written once, at the end (`finish`); after an interruption the rerun writes it."""
        reps = [
            row
            for cell in sorted(self.blocks, key=lambda c: (c[1], c[0]))
            for row in replicates_csv_rows(replicate_rows(*cell, self.blocks[cell]))
        ]
        atomic_write(self.dir / "replicates.csv", csv_text(reps, REPLICATE_COLUMNS))

    def finish(self, result) -> None:
        """Rewrites the tables, then writes summary.json and rates.png."""
        self.write_tables()
        self.write_replicates()
        atomic_write(self.dir / "summary.json", summary_text(result, self.config, self.fingerprint))
        png = self.dir / "rates.png"
        tmp = temporary_path(png)
        try:
            plot_rates(result, tmp)
            os.replace(tmp, png)
        except ImportError:
            print("trajax: matplotlib is not installed; skipping rates.png "
                  "(pip install -e '.[plot]')", file=sys.stderr)  # fmt: skip
        finally:
            tmp.unlink(missing_ok=True)
