"""Files that never lose anything: atomic writes and guarded output folders."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def prepare_output_dir(path: str | Path, *, overwrite: bool = False) -> Path:
    """Create ``path`` for a run's outputs.

    An existing non-empty folder is refused unless ``overwrite`` is set (then
    files are replaced one by one as the run writes them; nothing is deleted).
    """
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise FileExistsError(f"output path {p} exists and is not a folder")
    if p.is_dir() and any(p.iterdir()) and not overwrite:
        raise FileExistsError(f"output folder {p} exists and is not empty; pass --overwrite or choose another --out")
    p.mkdir(parents=True, exist_ok=True)
    return p


def write_atomic(path: str | Path, data: bytes | str) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder and
    ``os.replace``, so a killed process leaves either the old or the new file."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode() if isinstance(data, str) else data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_json_atomic(path: str | Path, obj: Any) -> None:
    """:func:`write_atomic` of ``json.dumps(obj, indent=2)``."""
    write_atomic(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")
