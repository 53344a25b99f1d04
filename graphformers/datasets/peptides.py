"""LRGB Peptides-func from the local copy (Dwivedi et al. 2022, "Long Range Graph Benchmark").

15,535 peptides (SATPdb) as molecular graphs with OGB's atom/bond features
(:func:`ogb.utils.smiles2graph`, as LRGB does), 10 binary function labels, and the
official stratified split (10,873 / 2,331 / 2,331). Metric: average precision,
averaged over the 10 tasks.

Files (under ``GRAPHFORMERS_DATA/Peptides-func/``):
``peptide_multi_class_dataset.csv.gz`` (columns ``,smiles,peptide_seq,labels,identifier``;
``labels`` a Python-style list such as ``[0, 1, 0, ...]``) and
``splits_random_stratified_peptide.json.gz`` (``{"train", "val", "test"}`` row indices).

Featurizing takes about a minute, so the graphs are cached as plain tensors
(weights-only loadable) in ``cache_root()/peptides_func_<sha>.pt``, keyed on the
SHA-256 of the CSV: a cache is reused only for the file it was computed from, and
an unreadable cache is reported (a warning naming it) and recomputed.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import tempfile
import warnings
from pathlib import Path

import torch
from torch import Tensor
from torch_geometric.data import Data
from tqdm.auto import tqdm

from graphformers.datasets.molecules import smiles_to_graph

__all__ = ["peptides_func", "read_peptides_labels", "PEPTIDES_FUNC_SIZES"]

PEPTIDES_FUNC_SIZES = {"graphs": 15535, "tasks": 10, "train": 10873, "valid": 2331, "test": 2331}
#: Tag of the tensor cache's layout; a cache with another tag is recomputed.
CACHE_FORMAT = "graphformers.peptides_func.v2"


def read_peptides_labels(path: Path) -> tuple[list[str], Tensor]:
    """SMILES and ``[N, 10]`` float labels from LRGB's CSV; errors name the file and line."""
    import csv

    smiles, labels = [], []
    with gzip.open(path, "rt", newline="") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or not {"smiles", "labels"} <= set(reader.fieldnames):
            raise ValueError(f"{path}: expected columns 'smiles' and 'labels', got {reader.fieldnames}")
        for line, row in enumerate(reader, start=2):
            try:
                values = json.loads(row["labels"])
                if not isinstance(values, list) or len(values) != PEPTIDES_FUNC_SIZES["tasks"]:
                    raise ValueError
            except (ValueError, TypeError):
                raise ValueError(f"{path}: line {line}: labels {row['labels']!r} is not a list of 10 numbers") from None
            smiles.append(row["smiles"])
            labels.append([float(v) for v in values])
    return smiles, torch.tensor(labels)


def _read_split(path: Path, n: int) -> dict[str, Tensor]:
    with gzip.open(path, "rt") as fh:
        raw = json.load(fh)
    out = {}
    for ours, theirs in (("train", "train"), ("valid", "val"), ("test", "test")):
        if theirs not in raw:
            raise ValueError(f"{path}: missing split {theirs!r}")
        idx = torch.tensor(raw[theirs], dtype=torch.long)
        if idx.numel() and (idx.min() < 0 or idx.max() >= n):
            raise ValueError(f"{path}: split {theirs!r} holds indices outside [0, {n})")
        out[ours] = idx
    return out


def _featurize(smiles: list[str], progress: bool) -> dict[str, Tensor]:
    xs, eis, eas, nn_, ne = [], [], [], [], []
    for s in tqdm(smiles, desc="featurize peptides", disable=not progress):
        g = smiles_to_graph(s)
        xs.append(torch.from_numpy(g["node_feat"]))
        eis.append(torch.from_numpy(g["edge_index"]))
        eas.append(torch.from_numpy(g["edge_feat"]))
        nn_.append(g["num_nodes"])
        ne.append(g["edge_index"].shape[1])
    return {"x": torch.cat(xs), "edge_index": torch.cat(eis, dim=1), "edge_attr": torch.cat(eas),
            "num_nodes": torch.tensor(nn_), "num_edges": torch.tensor(ne)}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _load_cache(cache: Path, source: str, num_graphs: int) -> dict[str, Tensor] | None:
    """The cached tensors when ``cache`` was computed from the CSV with SHA-256 ``source``;
    None (with a warning naming the file when it cannot be read) otherwise."""
    try:
        payload = torch.load(cache, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - a corrupt cache holds only derived data: recompute it
        reason = (str(err).strip().splitlines() or [""])[0][:200]
        warnings.warn(f"Peptides-func cache {cache} cannot be read ({type(err).__name__}: {reason}); "
                      "recomputing it", stacklevel=3)
        return None
    if not isinstance(payload, dict) or payload.get("format") != CACHE_FORMAT or payload.get("source") != source:
        return None  # another layout, or computed from another file: recompute
    tensors = payload.get("tensors")
    keys = {"x", "edge_index", "edge_attr", "num_nodes", "num_edges"}
    if (not isinstance(tensors, dict) or set(tensors) != keys
            or not all(isinstance(v, Tensor) for v in tensors.values())
            or int(tensors["num_nodes"].numel()) != num_graphs):
        warnings.warn(f"Peptides-func cache {cache} is inconsistent; recomputing it", stacklevel=3)
        return None
    return tensors


def peptides_func(folder: str | Path | None = None, *, cache: str | Path | None = None,
                  progress: bool = True) -> tuple[list[Data], dict[str, Tensor]]:
    """Peptides-func graphs and the official split.

    Args:
        folder: the ``Peptides-func`` folder (default: ``data_path("Peptides-func")``).
        cache: tensor cache file (default ``cache_root()/peptides_func_<sha>.pt``, ``<sha>``
            the first 16 hex digits of the CSV's SHA-256). It is reused only when it
            records the same CSV SHA-256; an unreadable one is recomputed with a warning.
        progress: tqdm bar while featurizing.

    Returns:
        ``(graphs, split)``: ``Data(x [N, 9] long, edge_index [2, E], edge_attr [E, 3] long,
        y [1, 10] float)`` per peptide, and ``{"train", "valid", "test"}`` index tensors.
    """
    from graphformers.settings import cache_root, data_path

    folder = Path(folder) if folder is not None else data_path("Peptides-func")
    csv_path = folder / "peptide_multi_class_dataset.csv.gz"
    split_path = folder / "splits_random_stratified_peptide.json.gz"
    for p in (csv_path, split_path):
        if not p.is_file():
            raise FileNotFoundError(f"{p} not found")
    smiles, y = read_peptides_labels(csv_path)
    split = _read_split(split_path, len(smiles))
    source = _sha256(csv_path)
    cache = Path(cache) if cache is not None else cache_root() / f"peptides_func_{source[:16]}.pt"
    tensors = _load_cache(cache, source, len(smiles)) if cache.is_file() else None
    if tensors is None:
        tensors = _featurize(smiles, progress)
        cache.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{cache.name}.", dir=cache.parent)
        os.close(fd)
        try:
            torch.save({"format": CACHE_FORMAT, "source": source, "tensors": tensors}, tmp)
            os.replace(tmp, cache)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    graphs = []
    node_ptr = torch.cat([torch.zeros(1, dtype=torch.long), tensors["num_nodes"].cumsum(0)])
    edge_ptr = torch.cat([torch.zeros(1, dtype=torch.long), tensors["num_edges"].cumsum(0)])
    for i in range(len(smiles)):
        a, b, c, d = int(node_ptr[i]), int(node_ptr[i + 1]), int(edge_ptr[i]), int(edge_ptr[i + 1])
        graphs.append(Data(x=tensors["x"][a:b], edge_index=tensors["edge_index"][:, c:d],
                           edge_attr=tensors["edge_attr"][c:d], y=y[i].view(1, -1), num_nodes=b - a))
    return graphs, split
