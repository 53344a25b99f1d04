"""OGB datasets that work offline and with ``torch.load(weights_only=True)``.

OGB's own classes (:class:`ogb.graphproppred.PygGraphPropPredDataset`,
:class:`ogb.nodeproppred.PygNodePropPredDataset`,
:class:`ogb.linkproppred.PygLinkPropPredDataset`; Hu et al. 2020, "Open Graph
Benchmark", https://arxiv.org/abs/2005.00687) do all the processing and the official
:class:`ogb.graphproppred.Evaluator` does the scoring. This module adds only:

* :func:`ogb_safe_load`: a context manager that lets ``torch.load`` (weights-only by
  default since torch 2.6) unpickle the PyG container classes in OGB's processed
  files, for the duration of the block, instead of turning weights-only off.
* :func:`graph_dataset`, :func:`node_dataset`, :func:`link_dataset`: thin wrappers
  taking a local ``root``. Where the dataset folder is absent they let OGB download
  it as usual (on a machine with internet); ``ogbg-mol*`` folders are first built
  offline from the MoleculeNet CSVs when those exist (:mod:`.ogb_mol`). A failed
  download is reported as :class:`FileNotFoundError` naming ``GRAPHFORMERS_DATA`` and
  the expected files, and leaves no folder behind (an empty one left by an earlier
  failure, holding no file, is removed before trying).
* :func:`write_node_dataset`: OGB's raw layout for one node-level graph (the
  ``ogbn-arxiv`` layout) from arrays, so a local copy of the raw files can be used.

OGB asks a question on stdin when a dataset folder lacks ``RELEASE_v<version>.txt``;
every folder written here has it, and the wrappers refuse (with a clear error)
folders without it rather than hang.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

__all__ = [
    "ogb_safe_load",
    "ogb_meta",
    "ogb_dir",
    "graph_dataset",
    "node_dataset",
    "link_dataset",
    "write_csv_gz",
    "write_node_dataset",
    "atomic_dir",
]

_TASK_PACKAGE = {"ogbg": "graphproppred", "ogbn": "nodeproppred", "ogbl": "linkproppred"}


def _safe_classes() -> list[type]:
    """The PyG classes inside OGB's processed ``(data, slices)`` files."""
    from torch_geometric.data.data import Data, DataEdgeAttr, DataTensorAttr
    from torch_geometric.data.storage import BaseStorage, EdgeStorage, GlobalStorage, NodeStorage

    classes: list[type] = [Data, DataEdgeAttr, DataTensorAttr, BaseStorage, GlobalStorage, NodeStorage, EdgeStorage]
    try:
        from torch_geometric.data.hetero_data import HeteroData

        classes.append(HeteroData)
    except ImportError:  # pragma: no cover
        pass
    return classes


@contextlib.contextmanager
def ogb_safe_load() -> Iterator[None]:
    """Allow PyG's data classes in weights-only ``torch.load`` calls inside this block only.

    Uses :func:`torch.serialization.safe_globals` (scoped), so arbitrary pickled
    objects are still rejected and nothing changes outside the ``with`` block.
    Only classes not already allowed are added: leaving the block removes what
    it added, and must not remove PyG's own global registration of ``Data``.
    """
    allowed = set(torch.serialization.get_safe_globals())
    missing = [cls for cls in _safe_classes() if cls not in allowed]
    with torch.serialization.safe_globals(missing):
        yield


def ogb_meta(name: str) -> Mapping[str, str]:
    """The column of OGB's ``master.csv`` for ``name`` (``ogbg-*``, ``ogbn-*`` or ``ogbl-*``)."""
    import ogb

    prefix = name.split("-", 1)[0]
    if prefix not in _TASK_PACKAGE:
        raise ValueError(f"unknown OGB dataset {name!r}: the name must start with ogbg-, ogbn- or ogbl-")
    master = pd.read_csv(Path(ogb.__file__).parent / _TASK_PACKAGE[prefix] / "master.csv", index_col=0,
                         keep_default_na=False)
    if name not in master:
        raise ValueError(f"unknown OGB dataset {name!r}; {prefix} datasets: {sorted(master.columns)}")
    return master[name].to_dict()


def ogb_dir(name: str, root: str | Path) -> Path:
    """The folder OGB uses for ``name`` under ``root`` (``ogbg-molhiv`` -> ``root/ogbg_molhiv``)."""
    return Path(root) / name.replace("-", "_")


def _default_root(root: str | Path | None) -> Path:
    if root is not None:
        return Path(root)
    from graphformers.settings import cache_root

    return cache_root() / "ogb"


def _check_release(name: str, root: Path) -> None:
    folder = ogb_dir(name, root)
    version = ogb_meta(name)["version"]
    if folder.is_dir() and not (folder / f"RELEASE_v{version}.txt").exists():
        raise RuntimeError(
            f"{folder} exists without RELEASE_v{version}.txt, so OGB would stop to ask on stdin whether to "
            "delete it; remove the folder or add the file if its raw data is version " + str(version)
        )


def _holds_no_file(folder: Path) -> bool:
    """``folder`` contains only (nested) empty folders: what a failed download leaves."""
    return all(p.is_dir() and not p.is_symlink() for p in folder.rglob("*"))


def _missing_data_message(name: str, root: Path, err: BaseException) -> str:
    from graphformers.settings import ENV_VAR, data_root

    meta = ogb_meta(name)
    env = os.environ.get(ENV_VAR)
    found = data_root()
    if env:
        where = f"{ENV_VAR}={env!r}" + ("" if found is not None else " is not a folder")
    else:
        where = f"{ENV_VAR} is unset; " + (f"data root {found}" if found is not None else "no ../shared/data found")
    expected = [f"OGB's dataset folder {ogb_dir(name, root)} (with RELEASE_v{meta['version']}.txt)"]
    if name.startswith("ogbg-mol"):
        from graphformers.datasets.ogb_mol import MOLECULENET

        if name in MOLECULENET:
            expected.insert(0, f"the MoleculeNet CSV ${ENV_VAR}/MoleculeNet/{MOLECULENET[name][0]} "
                               "(the folder is then built offline)")
    reason = (str(err).strip().splitlines() or [""])[0][:200]
    return (f"{name}: no local copy found ({where}); expected " + " or ".join(expected)
            + f", and OGB's download from {meta['url']} failed ({type(err).__name__}: {reason})")


def _open_ogb(cls: Any, name: str, root: Path, **kwargs: Any):
    """``cls(name, root)`` (an OGB dataset class) under :func:`ogb_safe_load`.

    A folder holding no file (left by an earlier failed download) is removed first.
    When the folder did not exist, a failure (no internet, an interrupted download)
    removes what OGB created and raises :class:`FileNotFoundError` explaining where
    the data is expected.
    """
    folder = ogb_dir(name, root)
    if folder.is_dir() and _holds_no_file(folder):
        shutil.rmtree(folder)
    _check_release(name, root)
    existed = folder.exists()
    try:
        with ogb_safe_load():
            return cls(name, root=str(root), **kwargs)
    except BaseException as err:  # also an interrupt: nothing half-made is left
        if existed:
            raise
        shutil.rmtree(folder, ignore_errors=True)
        # no internet: URLError (an OSError); an interrupted download: OGB's RuntimeError
        if isinstance(err, (OSError, RuntimeError)):
            raise FileNotFoundError(_missing_data_message(name, root, err)) from err
        raise


def graph_dataset(name: str, root: str | Path | None = None, *, build_offline: bool = True, **kwargs: Any):
    """OGB's :class:`PygGraphPropPredDataset` for ``name`` under ``root``.

    Args:
        name: e.g. ``"ogbg-molhiv"``.
        root: dataset root (default: ``cache_root()/ogb``).
        build_offline: build an absent ``ogbg-mol*`` folder from the local MoleculeNet
            CSVs (:func:`graphformers.datasets.ogb_mol.build_mol_dataset`) when they exist.
        **kwargs: ``transform`` / ``pre_transform`` for OGB's class.

    Raises:
        FileNotFoundError: no local copy and the download failed (the message names
            ``GRAPHFORMERS_DATA`` and the expected files; no folder is left behind).
    """
    from ogb.graphproppred import PygGraphPropPredDataset

    root = _default_root(root)
    ogb_meta(name)
    folder = ogb_dir(name, root)
    if folder.is_dir() and _holds_no_file(folder):
        shutil.rmtree(folder)
    if build_offline and not folder.exists():
        from graphformers.datasets.ogb_mol import MOLECULENET, build_mol_dataset, moleculenet_csv

        if name in MOLECULENET and moleculenet_csv(name, required=False) is not None:
            build_mol_dataset(name, root)
    return _open_ogb(PygGraphPropPredDataset, name, root, **kwargs)


def node_dataset(name: str, root: str | Path | None = None, **kwargs: Any):
    """OGB's :class:`PygNodePropPredDataset` for ``name`` under ``root`` (local raw layout or download).

    Raises:
        FileNotFoundError: no local copy and the download failed (see :func:`graph_dataset`).
    """
    from ogb.nodeproppred import PygNodePropPredDataset

    root = _default_root(root)
    ogb_meta(name)
    return _open_ogb(PygNodePropPredDataset, name, root, **kwargs)


def link_dataset(name: str, root: str | Path | None = None, **kwargs: Any):
    """OGB's :class:`PygLinkPropPredDataset` for ``name`` under ``root``.

    Its split files (``split/<type>/{train,valid,test}.pt``) must hold torch tensors:
    weights-only loading rejects NumPy arrays.

    Raises:
        FileNotFoundError: no local copy and the download failed (see :func:`graph_dataset`).
    """
    from ogb.linkproppred import PygLinkPropPredDataset

    root = _default_root(root)
    ogb_meta(name)
    return _open_ogb(PygLinkPropPredDataset, name, root, **kwargs)


def split_indices(dataset) -> dict[str, Tensor]:
    """``dataset.get_idx_split()`` under :func:`ogb_safe_load` (a ``split_dict.pt`` may be loaded)."""
    with ogb_safe_load():
        return dataset.get_idx_split()


def write_csv_gz(path: Path, array: np.ndarray, *, fmt: str = "%d") -> None:
    """Write a 1-D or 2-D array as a header-less gzip CSV (OGB's raw format); NaN -> empty cell."""
    array = np.asarray(array)
    if array.ndim == 1:
        array = array[:, None]
    with gzip.open(path, "wt", compresslevel=6) as fh:
        if np.issubdtype(array.dtype, np.floating) and np.isnan(array).any():
            for row in array:
                fh.write(",".join("" if np.isnan(v) else (fmt % v) for v in row) + "\n")
        elif len(array):
            np.savetxt(fh, array, fmt=fmt, delimiter=",")


@contextlib.contextmanager
def atomic_dir(final: Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling folder; on success rename it to ``final`` (nothing half-written is left).

    Raises:
        FileExistsError: ``final`` exists and ``overwrite`` is false.
    """
    final = Path(final)
    if final.exists() and not overwrite:
        raise FileExistsError(f"{final} already exists (pass overwrite=True to rebuild it)")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    try:
        yield tmp
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def write_node_dataset(
    name: str,
    root: str | Path,
    *,
    edge_index: np.ndarray | Tensor,
    x: np.ndarray | Tensor,
    y: np.ndarray | Tensor,
    split: Mapping[str, np.ndarray | Tensor],
    node_files: Mapping[str, np.ndarray | Tensor] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write OGB's raw layout of a node-level dataset (e.g. ``ogbn-arxiv``) for :func:`node_dataset`.

    Args:
        name: an ``ogbn-*`` name from OGB's ``master.csv`` (it fixes the split folder and
            the additional node files, e.g. ``node_year`` for arxiv).
        root: the dataset root; writes ``root/<ogbn_name>/``.
        edge_index: ``[2, E]`` directed edges, stored as given (OGB adds reverses
            only where ``add_inverse_edge`` is true).
        x: ``[N, F]`` node features; y: ``[N]`` or ``[N, T]`` labels.
        split: ``{"train", "valid", "test"}`` node indices, none of them empty.
        node_files: the additional node files ``master.csv`` lists, by name (``{"node_year": [N]}``).
        overwrite: replace an existing folder.

    Returns:
        The dataset folder.

    Raises:
        ValueError: a non-``ogbn-*`` or unsupported name, arrays of the wrong shape, ids
            outside the graph, missing node files, or a split part missing or empty
            (the part named).
        FileExistsError: the folder exists and ``overwrite`` is false.
    """
    meta = ogb_meta(name)
    if not name.startswith("ogbn-") or meta["is hetero"] == "True" or meta["binary"] == "True":
        raise ValueError(f"{name}: only homogeneous, CSV-format ogbn-* datasets are supported")
    edge_index, x, y = (np.asarray(a) for a in (edge_index, x, y))
    num_nodes = x.shape[0]
    if edge_index.ndim != 2 or edge_index.shape[0] != 2:
        raise ValueError(f"edge_index must have shape [2, E], got {edge_index.shape}")
    if edge_index.size and (edge_index.min() < 0 or edge_index.max() >= num_nodes):
        raise ValueError(f"edge_index holds ids outside [0, {num_nodes})")
    if y.shape[0] != num_nodes:
        raise ValueError(f"y has {y.shape[0]} rows for {num_nodes} nodes")
    needed = [] if meta["additional node files"] == "None" else meta["additional node files"].split(",")
    node_files = dict(node_files or {})
    if sorted(node_files) != sorted(needed):
        raise ValueError(f"{name} needs additional node files {needed}, got {sorted(node_files)}")
    missing = {"train", "valid", "test"} - set(split)
    if missing:
        raise ValueError(f"split lacks {sorted(missing)}")
    for part in ("train", "valid", "test"):
        idx = np.asarray(split[part])
        if idx.size == 0:
            raise ValueError(f"split[{part!r}] is empty; OGB cannot read an empty split file")
        if idx.min() < 0 or idx.max() >= num_nodes:
            raise ValueError(f"split[{part!r}] holds node indices outside [0, {num_nodes})")
    with atomic_dir(ogb_dir(name, root), overwrite=overwrite) as tmp:
        raw = tmp / "raw"
        raw.mkdir()
        write_csv_gz(raw / "edge.csv.gz", edge_index.T.astype(np.int64))
        float_x = np.issubdtype(x.dtype, np.floating)
        write_csv_gz(raw / "node-feat.csv.gz", x, fmt="%.9g" if float_x else "%d")
        write_csv_gz(raw / "node-label.csv.gz", y, fmt="%.9g" if np.issubdtype(y.dtype, np.floating) else "%d")
        write_csv_gz(raw / "num-node-list.csv.gz", np.array([num_nodes]))
        write_csv_gz(raw / "num-edge-list.csv.gz", np.array([edge_index.shape[1]]))
        for key, values in node_files.items():
            values = np.asarray(values)
            write_csv_gz(raw / f"{key}.csv.gz", values, fmt="%.9g" if np.issubdtype(values.dtype, np.floating) else "%d")
        split_dir = tmp / "split" / meta["split"]
        split_dir.mkdir(parents=True)
        for part in ("train", "valid", "test"):
            write_csv_gz(split_dir / f"{part}.csv.gz", np.asarray(split[part]).astype(np.int64))
        (tmp / f"RELEASE_v{meta['version']}.txt").write_text(f"written by graphformers for {name}\n")
    return ogb_dir(name, root)
