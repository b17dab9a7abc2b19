"""Where a sweep keeps its results: `NoStore` (the default: nothing written) or `DirectoryStore`
(records, block checkpoints, resume, the tables and plots; `_records.SweepWriter` keeps the
directory). With `jax.distributed`, process 0 alone writes (`open_store`); every process skips
the same finished cells (`finished_cells`)."""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np
from jax.experimental.multihost_utils import broadcast_one_to_all

from ._execution import start_daemon
from ._records import SweepWriter, check_out_dir
from ._replicates import shard_dir_name
from ._report import preload_plotting

__all__ = ["NoStore", "DirectoryStore", "open_store", "finished_cells"]


class NoStore:
    """Keeps nothing: every method does nothing (a sweep without `out`, or a process other than
    process 0)."""

    def finished(self) -> dict:
        """{(m, T): (row, timing, block)} of the cells finished in earlier runs: none."""
        return {}

    def partials(self, cells, first: int, stop: int) -> tuple[dict, int]:
        """Checkpointed replicates of the unfinished `cells`: none, the run starts at `first`."""
        return {}, first

    def save_partial(self, first: int, stop: int, blocks: dict) -> None:
        pass

    def remove_partials(self) -> None:
        pass

    def prepare_outputs(self) -> None:
        pass

    def add(self, row: dict, timing: dict, block: dict) -> None:
        pass

    def finish(self, result) -> None:
        pass


class DirectoryStore(NoStore):
    """A sweep's output directory (`_records.SweepWriter`): each finished cell is committed as
    a record, from which the tables are rewritten; a multi-block nested sweep checkpoints each
    block; a rerun of the same sweep resumes; `finish` writes summary.json and rates.png."""

    def __init__(self, writer: SweepWriter):
        self.writer = writer

    def finished(self) -> dict:
        blocks = self.writer.blocks
        return {cell: (*rt, blocks.get(cell)) for cell, rt in self.writer.finished().items()}

    def partials(self, cells, first, stop):
        return self.writer.partials(cells, first, stop)

    def save_partial(self, first, stop, blocks) -> None:
        self.writer.save_partial(first, stop, blocks)

    def remove_partials(self) -> None:
        self.writer.remove_partials()

    def prepare_outputs(self) -> None:
        start_daemon(preload_plotting, "trajax-preload-matplotlib")  # the plot's imports

    def add(self, row, timing, block) -> None:
        self.writer.add(row, timing, block)

    def finish(self, result) -> None:
        self.writer.finish(result)


def open_store(out, config: dict, shard, *, resume: bool = True, force: bool = False) -> NoStore:
    """`DirectoryStore` of `out` (of `out/shard-I-of-N` for a job-array shard) in process 0,
    else `NoStore`. Checks `out` and its records first (one-line ValueError)."""
    if out is None:
        return NoStore()
    if shard is not None:
        out = Path(check_out_dir(out)) / shard_dir_name(*shard)
    if jax.process_index() != 0:  # with jax.distributed, process 0 alone writes
        return NoStore()
    return DirectoryStore(SweepWriter(out, config, resume=resume, force=force))


def finished_cells(store: NoStore, cells) -> dict:
    """{cell: (row, timing, block) or None} of the cells finished in earlier runs; in a
    multi-process run every process gets the same cells (None: only process 0 has the row)."""
    done = store.finished()
    if jax.process_count() > 1:  # all processes must skip the same finished cells
        mask = broadcast_one_to_all(np.array([c in done for c in cells], dtype=np.int32))
        if jax.process_index() != 0:
            done = {c: None for c, skip in zip(cells, np.asarray(mask), strict=True) if skip}
    return done
