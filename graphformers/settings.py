"""Where the library finds benchmark data on disk.

One setting, the environment variable ``GRAPHFORMERS_DATA``, points at the folder
that holds the offline benchmark data (the layout of ``shared/data``). When it is
unset, ``../shared/data`` relative to the current directory or to the repository
root is used if it exists.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "GRAPHFORMERS_DATA"


def data_root(required: bool = False) -> Path | None:
    """Return the benchmark data folder, or ``None`` when there is none.

    Args:
        required: raise :class:`FileNotFoundError` instead of returning ``None``.
    """
    env = os.environ.get(ENV_VAR)
    if env:
        path = Path(env).expanduser()
        if path.is_dir():
            return path
        if required:
            raise FileNotFoundError(f"{ENV_VAR}={env!r} is not a directory")
        return None
    repo_root = Path(__file__).resolve().parent.parent
    for cand in (Path.cwd().parent / "shared" / "data", repo_root.parent / "shared" / "data"):
        if cand.is_dir():
            return cand
    if required:
        raise FileNotFoundError(
            f"no benchmark data found: set {ENV_VAR} to the folder holding the "
            "offline data (see the README's 'Data' section)"
        )
    return None


def data_path(*parts: str) -> Path:
    """Return ``data_root()/parts...``, raising a clear error if it is absent."""
    root = data_root(required=True)
    assert root is not None
    path = root.joinpath(*parts)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist (data root from {ENV_VAR} or ../shared/data)")
    return path


def cache_root() -> Path:
    """Folder for processed datasets (``GRAPHFORMERS_CACHE`` or ``~/.cache/graphformers``)."""
    return Path(os.environ.get("GRAPHFORMERS_CACHE", Path.home() / ".cache" / "graphformers"))
