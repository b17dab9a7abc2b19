"""The leaf of the output modules: JSON-ready values, atomic writes and exact CSV text (imports
nothing from trajax, so every module that writes files can use it)."""

from __future__ import annotations

import csv
import io
import math
import os
import re
import secrets
from pathlib import Path

import numpy as np

__all__ = ["jsonable", "atomic_write", "temporary_path", "remove_temporaries", "csv_text", "table_columns"]

_TEMPORARY = re.compile(r"^\..+\.[0-9a-f]{8}\.tmp(\.\w+)?$")


def jsonable(x):
    """`x` with numpy scalars and arrays as Python values; non-finite floats become None."""
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [jsonable(v) for v in x]
    if isinstance(x, float | np.floating):
        return float(x) if math.isfinite(x) else None
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist())
    return x


def temporary_path(path: Path) -> Path:
    """A fresh hidden name beside `path`, keeping its suffix (matplotlib picks formats by it)."""
    return path.with_name(f".{path.stem}.{secrets.token_hex(4)}.tmp{path.suffix}")


def atomic_write(path, text: str) -> None:
    """Writes `text` to `path` via a temporary file and `os.replace`: readers, and a process
    killed at any moment, see the old file or the new one, never a torn one. The file gets the
    user's umask (as `open` would), not mkstemp's 0600, so others can read shared results."""
    path = Path(path)
    tmp = temporary_path(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "w", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def remove_temporaries(directory: Path) -> None:
    """Deletes temporary files a killed writer left in `directory`."""
    for path in directory.glob(".*.tmp*"):
        if _TEMPORARY.match(path.name):
            path.unlink(missing_ok=True)


def table_columns(rows, known) -> list[str]:
    """`known` columns first, then every other key of the rows in order of first appearance."""
    columns = list(known)
    for row in rows:
        columns += [k for k in row if k not in columns]
    return columns


def csv_text(rows, known) -> str:
    """CSV of `rows` with the columns `table_columns(rows, known)`; floats as `repr` (exact)."""
    columns = table_columns(rows, known)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        values = [row.get(c, "") for c in columns]
        writer.writerow([repr(v) if isinstance(v, float) else v for v in values])
    return buf.getvalue()


def _to_json(x):
    if isinstance(x, np.generic | np.ndarray):
        return x.tolist()
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")
