"""`Timing`: one cell's timing row, built in one place for every runner, for resumed cells and for
merged shards (the rows of `timings.csv` and of `SweepResult.timings`)."""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["Timing", "TIMING_COLUMNS"]


class Timing(NamedTuple):
    """How one cell ran (no number of the results depends on it).

    m, T: the cell.
    compile_s: wall seconds compiling the cell's programs (a nested sweep charges its shared
        programs to the first cell).
    run_s: wall seconds running them.
    stream_chunk: trajectories streamed at a time by a per-cell fit (0: not streamed).
    compilations: programs compiled for the cell (shared programs counted at their first cell).
    memory_bytes: the measured working set per device (XLA's memory analysis).
    budget_bytes: the memory budget per device.
    blocks: blocks of replicates of a nested sweep (None: the per-cell runner, no blocks).

    Example:
        >>> import trajax as tj
        >>> tj.Timing(10, 20, compile_s=1.5, run_s=0.25, compilations=1).as_dict()["run_s"]
        0.25
    """

    m: int
    T: int
    compile_s: float = 0.0
    run_s: float = 0.0
    stream_chunk: int = 0
    compilations: int = 0
    memory_bytes: int = 0
    budget_bytes: int = 0
    blocks: int | None = None

    def as_dict(self) -> dict:
        """The row of `timings.csv` (without `blocks` when there are none)."""
        row = self._asdict()
        if self.blocks is None:
            del row["blocks"]
        return row

    @classmethod
    def of_shards(cls, m: int, T: int, rows: list[dict]) -> Timing:
        """One cell's timing over job-array shards (their rows as recorded): times and
        compilations summed, the largest working set."""
        return cls(
            m,
            T,
            compile_s=sum(t.get("compile_s", 0.0) for t in rows),
            run_s=sum(t.get("run_s", 0.0) for t in rows),
            stream_chunk=rows[0].get("stream_chunk", 0),
            compilations=sum(int(t.get("compilations", 1)) for t in rows),
            memory_bytes=max(int(t.get("memory_bytes") or 0) for t in rows),
            budget_bytes=rows[0].get("budget_bytes", ""),
        )


TIMING_COLUMNS = Timing._fields
