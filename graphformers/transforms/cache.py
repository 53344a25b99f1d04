"""Compute a deterministic transform over a dataset once and reuse it across runs.

GraphGPS recomputes its positional encodings at the start of every run;
:func:`precompute` stores what a transform adds to each graph in one file and
reloads it next time::

    from graphformers.transforms.cache import precompute
    from graphformers.transforms.positional import AddLaplacianPE

    graphs = precompute(list(dataset), AddLaplacianPE(k=8), "cache/zinc_lap8.pt")

The file is reused only if its *cache key* matches: the transform's ``repr``
(so every argument that changes the output must appear in it, as it does for
:class:`~graphformers.transforms.positional.AddLaplacianPE` and
:class:`~graphformers.transforms.positional.AddRandomWalkSE`), the number of
graphs, and a SHA-256 over each graph's ``num_nodes`` and ``key_attrs``
(``edge_index`` and ``edge_weight`` by default: the structure). Only the
attributes the transform added or replaced are stored; on reload they are put
on shallow copies of the graphs you pass, so features (``x``, ``y``) are always
the current ones. A transform that also reads features must list them in
``key_attrs``.

For a PyG :class:`~torch_geometric.data.InMemoryDataset`, passing the transform
as ``pre_transform`` is the other way to compute once: PyG stores the processed
graphs and compares ``repr(pre_transform)`` with the stored one (it warns, and
does not recompute, when they differ).
"""

from __future__ import annotations

import copy
import hashlib
import logging
import os
import re
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import Tensor
from torch_geometric.data import Data
from tqdm.auto import tqdm

__all__ = ["precompute", "structure_hash"]

log = logging.getLogger(__name__)

CACHE_FORMAT = "graphformers.transform_cache"
CACHE_VERSION = 1


def _tensor_bytes(value: Tensor) -> bytes:
    t = value.detach().cpu().contiguous().reshape(-1)
    return t.view(torch.uint8).numpy().tobytes()


def structure_hash(data_list: Sequence[Data], key_attrs: Sequence[str] = ("edge_index", "edge_weight")) -> str:
    """SHA-256 over every graph's ``num_nodes`` and ``key_attrs`` (dtype, shape, bytes)."""
    h = hashlib.sha256()
    for data in data_list:
        h.update(f"graph:{data.num_nodes};".encode())
        for key in key_attrs:
            value = data.get(key)
            if value is None:
                h.update(f"{key}:none;".encode())
            elif isinstance(value, Tensor):
                h.update(f"{key}:{value.dtype}:{tuple(value.shape)};".encode())
                h.update(_tensor_bytes(value))
            else:
                h.update(f"{key}:{value!r};".encode())
    return h.hexdigest()


def _cache_key(data_list: Sequence[Data], transform: Callable, key_attrs: Sequence[str]) -> dict[str, object]:
    return {
        "transform": repr(transform),
        "num_graphs": len(data_list),
        "structure": structure_hash(data_list, key_attrs),
        "key_attrs": list(key_attrs),
    }


def _added_attrs(before: dict[str, object], after: Data, index: int) -> dict[str, Tensor]:
    """Attributes ``after`` has that ``before`` (a snapshot of the input) lacks or holds as another object."""
    removed = [key for key in before if key not in after]
    if removed:
        raise ValueError(f"precompute: the transform removed {removed} from graph {index}; it cannot be cached")
    added = {key: value for key, value in after.items() if key not in before or before[key] is not value}
    for key, value in added.items():
        if not isinstance(value, Tensor):
            raise ValueError(
                f"precompute: the transform set {key!r} on graph {index} to a {type(value).__name__}; "
                "only tensor attributes can be cached"
            )
    return added


def _pack(per_graph: list[dict[str, Tensor]]) -> dict[str, dict[str, Tensor]]:
    """Per attribute: all graphs' values flattened into one tensor plus their shapes."""
    names = sorted(per_graph[0]) if per_graph else []
    packed = {}
    for i, attrs in enumerate(per_graph):
        if sorted(attrs) != names:
            raise ValueError(
                f"precompute: the transform added {sorted(attrs)} to graph {i} but {names} to graph 0; "
                "every graph must receive the same attributes"
            )
    for name in names:
        values = [attrs[name].detach().cpu() for attrs in per_graph]
        ndims, dtypes = {v.dim() for v in values}, {v.dtype for v in values}
        if len(ndims) != 1 or len(dtypes) != 1:
            raise ValueError(f"precompute: attribute {name!r} has different ranks or dtypes across graphs")
        packed[name] = {
            "flat": torch.cat([v.reshape(-1) for v in values]),
            "shapes": torch.tensor([list(v.shape) for v in values], dtype=torch.long).reshape(len(values), -1),
        }
    return packed


def _unpack(packed: dict[str, dict[str, Tensor]], num_graphs: int) -> list[dict[str, Tensor]]:
    per_graph: list[dict[str, Tensor]] = [{} for _ in range(num_graphs)]
    for name, entry in packed.items():
        shapes = entry["shapes"]
        numels = shapes.prod(dim=1).tolist() if shapes.size(1) else [1] * num_graphs
        if len(numels) != num_graphs or sum(numels) != entry["flat"].numel():
            raise ValueError(f"attribute {name!r} does not match the stored shapes")
        for i, (chunk, shape) in enumerate(zip(entry["flat"].split(numels), shapes.tolist())):
            per_graph[i][name] = chunk.reshape(shape).clone()
    return per_graph


def _load(path: Path, key: dict[str, object]) -> list[dict[str, Tensor]] | None:
    """The cached attributes, or ``None`` if the file is stale or unreadable (with a warning)."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(payload, dict) or payload.get("format") != CACHE_FORMAT:
            raise ValueError("not a graphformers transform cache")
        if payload.get("version") != CACHE_VERSION:
            raise ValueError(f"cache format version {payload.get('version')}, expected {CACHE_VERSION}")
        if payload["key"] != key:
            log.info("cache %s is stale (key %s, wanted %s); recomputing", path, payload["key"], key)
            return None
        return _unpack(payload["attrs"], int(key["num_graphs"]))  # type: ignore[call-overload]
    except Exception as err:  # noqa: BLE001 - any unreadable file is recomputed
        reason = (str(err).strip().splitlines() or [""])[0][:200]
        warnings.warn(f"cache file {path} cannot be used ({type(err).__name__}: {reason}); recomputing it", stacklevel=3)
        return None


def _save(path: Path, payload: dict[str, object]) -> None:
    """Write ``payload`` atomically: a temporary file in the same folder, then ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def precompute(
    data_list: Sequence[Data],
    transform: Callable[[Data], Data],
    path: str | os.PathLike[str],
    *,
    key_attrs: Sequence[str] = ("edge_index", "edge_weight"),
    progress: bool = True,
) -> list[Data]:
    """Apply ``transform`` to every graph, reusing the result stored at ``path``.

    On a cache hit the transform is not called: the stored attributes are set on
    shallow copies of ``data_list``'s graphs (the inputs are not modified). On a
    miss (no file, another key) the transform runs over all graphs (with a tqdm
    bar on stderr) and the added attributes are saved atomically. A file that
    cannot be read as a cache (truncated, corrupt, another format or version) is
    recomputed and overwritten, with a :class:`UserWarning`; it is never an
    error, since the file holds only derived data.

    Args:
        data_list: the graphs (a list, or any indexable dataset of ``Data``).
        transform: deterministic; its ``repr`` must show every argument that
            changes the output.
        path: the cache file (parent folders are created).
        key_attrs: graph attributes hashed into the key besides ``num_nodes``.
            (default: ``("edge_index", "edge_weight")``)
        progress: show a progress bar while computing. (default: ``True``)

    Returns:
        ``list[Data]``: the transformed graphs, in order.

    Raises:
        ValueError: ``path`` is a folder, or the transform removes attributes,
            sets non-tensor ones, or adds different attributes to different graphs.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"precompute: path {str(path)!r} is a folder; give a file name such as {str(path / 'pe.pt')!r}")
    graphs = list(data_list)
    key = _cache_key(graphs, transform, key_attrs)
    if re.search(r" at 0x[0-9a-fA-F]+", str(key["transform"])):
        warnings.warn(
            f"precompute: repr(transform) = {key['transform']!r} contains a memory address, so the cache "
            "key changes every run; use a transform class with an informative __repr__",
            stacklevel=2,
        )
    cached = _load(path, key) if path.exists() else None
    if cached is not None:
        out = []
        for data, attrs in zip(graphs, cached):
            copied = copy.copy(data)
            for name, value in attrs.items():
                copied[name] = value
            out.append(copied)
        return out

    results, added = [], []
    for i, data in enumerate(tqdm(graphs, desc=f"precompute {transform!r}", disable=not progress)):
        snapshot = dict(data.items())  # taken first: a plain function may modify data in place
        result = transform(data)
        results.append(result)
        added.append(_added_attrs(snapshot, result, i))
    _save(path, {"format": CACHE_FORMAT, "version": CACHE_VERSION, "key": key, "attrs": _pack(added)})
    return results
