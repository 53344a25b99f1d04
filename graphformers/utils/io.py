"""Files that never lose anything: atomic writes and guarded output folders."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable

__all__ = [
    "check_output_dir", "json_safe", "load_weights", "output_dir_problem", "prepare_output_dir", "strict_json_dumps",
    "write_atomic", "write_json_atomic",
]


#: how :func:`output_dir_problem` names a folder and what it advises, unless told otherwise
OUTPUT_LABEL = "output path"
OUTPUT_HINT = "pass --overwrite or choose another --out"


def output_dir_problem(
    path: str | Path, *, overwrite: bool = False, label: str = OUTPUT_LABEL, hint: str = OUTPUT_HINT
) -> str | None:
    """Why ``path`` cannot take a run's outputs, or ``None`` if it can (writes nothing).

    Args:
        path: the output folder.
        overwrite: whether an existing non-empty folder may be reused.
        label: how messages name the folder (e.g. the command-line option ``--out``).
        hint: what the message for a non-empty folder advises.
    """
    p = Path(path)
    if p.exists() and not p.is_dir():
        return f"{label} {p} exists and is not a folder"
    if p.is_dir() and any(p.iterdir()) and not overwrite:
        return f"{label} {p} exists and is not empty; {hint}"
    return None


def check_output_dir(
    path: str | Path, *, overwrite: bool = False, label: str = OUTPUT_LABEL, hint: str = OUTPUT_HINT
) -> None:
    """Raise :class:`FileExistsError` with :func:`output_dir_problem`'s reason, if any."""
    problem = output_dir_problem(path, overwrite=overwrite, label=label, hint=hint)
    if problem is not None:
        raise FileExistsError(problem)


def prepare_output_dir(
    path: str | Path, *, overwrite: bool = False, stale: Iterable[str] = (), label: str = OUTPUT_LABEL,
    hint: str = OUTPUT_HINT,
) -> Path:
    """Create ``path`` for a run's outputs.

    An existing non-empty folder is refused (:func:`check_output_dir`; ``label`` and
    ``hint`` shape the message) unless ``overwrite`` is set; then the files named in
    ``stale`` (those a previous run of the same kind left and this one may not rewrite,
    e.g. a checkpoint to resume from) are deleted, and the rest are replaced one by one
    as the run writes them.
    """
    if isinstance(stale, (str, bytes)):
        raise TypeError(f"stale must be a collection of file names, not the single string {stale!r}")
    p = Path(path)
    check_output_dir(p, overwrite=overwrite, label=label, hint=hint)
    if overwrite and p.is_dir():
        for name in stale:
            (p / name).unlink(missing_ok=True)
    p.mkdir(parents=True, exist_ok=True)
    return p


def _umask() -> int:
    """The process umask (read by setting and restoring it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomic(path: str | Path, data: bytes | str) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder and
    ``os.replace``, so a killed process leaves either the old or the new file.

    The file gets the mode a plain ``open(path, "w")`` would give it (``0o666``
    less the umask), not the ``0o600`` of the temporary file.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode() if isinstance(data, str) else data)
            fh.flush()
            os.fchmod(fh.fileno(), 0o666 & ~_umask())
            os.fsync(fh.fileno())
        os.replace(tmp, p)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def json_safe(obj: Any) -> Any:
    """``obj`` with every non-finite float (NaN, ±inf) replaced by ``None``.

    Strict JSON has no NaN or Infinity; an undefined value (the standard deviation
    of one seed, the metric of a run that diverged) is written as ``null``.
    Mappings, lists and tuples are copied; other values are returned as they are.
    """
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {key: json_safe(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(value) for value in obj]
    return obj


def strict_json_dumps(obj: Any, **kwargs: Any) -> str:
    """``json.dumps`` of :func:`json_safe` ``(obj)`` with ``allow_nan=False`` (strict JSON)."""
    return json.dumps(json_safe(obj), allow_nan=False, **kwargs)


def write_json_atomic(path: str | Path, obj: Any) -> None:
    """:func:`write_atomic` of strict JSON (``indent=2``; NaN and ±inf written as ``null``)."""
    write_atomic(path, strict_json_dumps(obj, indent=2, sort_keys=False) + "\n")


def load_weights(path: str | Path) -> Any:
    """``torch.load(path, weights_only=True)`` onto the CPU, with an error naming the file
    when it cannot be read (truncated, not a torch file, or holding more than tensors and
    plain containers, which weights-only loading refuses).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file cannot be loaded (the message names it and the reason).
    """
    import pickle

    import torch

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"checkpoint {p} not found")
    try:
        return torch.load(p, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, pickle.UnpicklingError, ValueError) as err:
        reason = " ".join(str(err).split())[:300]
        raise ValueError(f"checkpoint {p} cannot be loaded (damaged, truncated or not a weights-only "
                         f"torch file): {reason}") from None
