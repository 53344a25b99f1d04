"""Build OGB's ``ogbg-mol*`` folders offline from MoleculeNet CSVs.

OGB's molecular datasets (Hu et al. 2020, "Open Graph Benchmark") are MoleculeNet
(Wu et al. 2018) molecules featurized by :func:`ogb.utils.smiles2graph` and split by
the deterministic Bemis–Murcko scaffold split of Hu et al. 2020 ("Strategies for
Pre-training GNNs"). Without OGB's servers we rebuild the same raw layout::

    <root>/ogbg_mol<x>/
        RELEASE_v1.txt                 # else OGB asks on stdin whether to delete the folder
        mapping/mol.csv.gz             # task columns, smiles, mol_id (one row per graph)
        raw/edge.csv.gz                # each bond ONCE (OGB adds the reverse: add_inverse_edge)
        raw/edge-feat.csv.gz           # one row per bond
        raw/node-feat.csv.gz           # 9 atom features per atom, graphs concatenated
        raw/graph-label.csv.gz         # num tasks columns, empty = missing label
        raw/num-node-list.csv.gz, raw/num-edge-list.csv.gz   # atoms / bonds per graph
        split/scaffold/{train,valid,test}.csv.gz

and OGB's :class:`PygGraphPropPredDataset` processes it. The folder is written to a
temporary sibling and renamed, so an error leaves nothing half-written.
"""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from graphformers.datasets.molecules import _read_molecule_rows, scaffold_split, smiles_to_graph
from graphformers.datasets.ogb import atomic_dir, ogb_dir, ogb_meta, write_csv_gz

__all__ = ["MOLECULENET", "PUBLISHED", "moleculenet_csv", "build_mol_dataset", "check_against_published"]

#: OGB name -> (file under ``MoleculeNet/``, SMILES column). Task columns: all others, in file order.
MOLECULENET: dict[str, tuple[str, str]] = {
    "ogbg-molhiv": ("hiv.csv.gz", "smiles"),
    "ogbg-molbace": ("bace.csv.gz", "mol"),
    "ogbg-molbbbp": ("bbbp.csv.gz", "smiles"),
    "ogbg-molclintox": ("clintox.csv.gz", "smiles"),
    "ogbg-moltox21": ("tox21.csv.gz", "smiles"),
    "ogbg-molsider": ("sider.csv.gz", "smiles"),
    "ogbg-moltoxcast": ("toxcast.csv.gz", "smiles"),
    "ogbg-molmuv": ("muv.csv.gz", "smiles"),
    "ogbg-molesol": ("delaney.csv.gz", "smiles"),
    "ogbg-molfreesolv": ("freesolv.csv.gz", "smiles"),
    "ogbg-mollipo": ("lipo.csv.gz", "smiles"),
}

#: Number of graphs per dataset in the OGB paper (Hu et al. 2020, Table 1 and the
#: dataset pages); the number of tasks comes from OGB's ``master.csv``.
PUBLISHED: dict[str, int] = {
    "ogbg-molhiv": 41127, "ogbg-molbace": 1513, "ogbg-molbbbp": 2039, "ogbg-molclintox": 1477,
    "ogbg-moltox21": 7831, "ogbg-molsider": 1427, "ogbg-moltoxcast": 8576, "ogbg-molmuv": 93087,
    "ogbg-molesol": 1128, "ogbg-molfreesolv": 642, "ogbg-mollipo": 4200,
}


def moleculenet_csv(name: str, *, required: bool = True) -> Path | None:
    """The local MoleculeNet CSV for an ``ogbg-mol*`` name (``GRAPHFORMERS_DATA/MoleculeNet/...``)."""
    from graphformers.settings import data_root

    if name not in MOLECULENET:
        raise ValueError(f"no MoleculeNet source known for {name!r}; known: {sorted(MOLECULENET)}")
    root = data_root(required=required)
    path = None if root is None else root / "MoleculeNet" / MOLECULENET[name][0]
    if path is None or not path.is_file():
        if required:
            raise FileNotFoundError(f"{path or MOLECULENET[name][0]} not found (set GRAPHFORMERS_DATA)")
        return None
    return path


def _header(path: Path) -> list[str]:
    """The CSV's first row (plain or gzip, by content); unreadable files raise :class:`ValueError` naming them."""
    if not path.is_file():
        raise FileNotFoundError(f"molecule CSV {path} does not exist")
    gz = False
    try:
        with open(path, "rb") as fh:
            gz = fh.read(2) == b"\x1f\x8b"
        with (gzip.open(path, "rt", newline="") if gz else open(path, newline="")) as fh:
            return next(csv.reader(fh), [])
    except (UnicodeDecodeError, EOFError, OSError, csv.Error) as err:  # gzip.BadGzipFile is an OSError
        kind = "gzip" if gz else "text"
        raise ValueError(f"{path}: line 1: cannot read the header ({kind} file): {type(err).__name__}: {err}") from err


def build_mol_dataset(
    name: str,
    root: str | Path,
    csv_path: str | Path | None = None,
    *,
    smiles_col: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Write OGB's raw layout for ``name`` from a MoleculeNet-style CSV.

    Args:
        name: an ``ogbg-mol*`` name (its ``master.csv`` entry fixes the task count).
        root: dataset root; the folder is ``root/ogbg_mol<x>``.
        csv_path: the CSV (default: the local MoleculeNet copy, :func:`moleculenet_csv`).
        smiles_col: SMILES column (default: from :data:`MOLECULENET`, else ``"smiles"``).
        overwrite: replace an existing folder.
        progress: tqdm bar over molecules.

    Returns:
        The dataset folder.

    Raises:
        ValueError: bad CSV, an unparsable SMILES (file and line named), or a task
            count that differs from OGB's ``master.csv``.
    """
    meta = ogb_meta(name)
    path = Path(csv_path) if csv_path is not None else moleculenet_csv(name)
    assert path is not None
    smiles_col = smiles_col or MOLECULENET.get(name, ("", "smiles"))[1]
    header = _header(path)
    tasks = [c for c in header if c != smiles_col]
    if len(tasks) != int(meta["num tasks"]):
        raise ValueError(f"{path}: {len(tasks)} task columns {tasks}, but OGB's {name} has {meta['num tasks']}")
    smiles, y, lines = _read_molecule_rows(path, smiles_col, tasks)

    nodes, edges, node_feat, edge_feat = [], [], [], []
    for line, s in zip(lines, tqdm(smiles, desc=f"featurize {name}", disable=not progress)):
        try:
            g = smiles_to_graph(s)
        except ValueError as err:
            raise ValueError(f"{path}: line {line}: {err}") from err
        once = g["edge_index"][:, 0::2]  # smiles2graph writes bond k as edges 2k (i->j) and 2k+1 (j->i)
        nodes.append(g["num_nodes"])
        edges.append(once)
        node_feat.append(g["node_feat"])
        edge_feat.append(g["edge_feat"][0::2])
    split = scaffold_split(smiles)
    empty = [k for k, v in split.items() if len(v) == 0]
    if empty:
        raise ValueError(f"{path}: the scaffold split of {len(smiles)} molecules leaves {empty} empty "
                         "(OGB cannot read an empty split file); use more molecules")

    with atomic_dir(ogb_dir(name, root), overwrite=overwrite) as tmp:
        raw = tmp / "raw"
        raw.mkdir()
        write_csv_gz(raw / "edge.csv.gz", np.concatenate(edges, axis=1).T)
        write_csv_gz(raw / "edge-feat.csv.gz", np.concatenate(edge_feat).reshape(-1, 3))
        write_csv_gz(raw / "node-feat.csv.gz", np.concatenate(node_feat))
        write_csv_gz(raw / "num-node-list.csv.gz", np.array(nodes))
        write_csv_gz(raw / "num-edge-list.csv.gz", np.array([e.shape[1] for e in edges]))
        labels = y.numpy().astype(np.float64)
        fmt = "%.10g"
        write_csv_gz(raw / "graph-label.csv.gz", labels, fmt=fmt)
        split_dir = tmp / "split" / meta["split"]
        split_dir.mkdir(parents=True)
        for part, idx in split.items():
            write_csv_gz(split_dir / f"{part}.csv.gz", idx.numpy())
        (tmp / "mapping").mkdir()
        with gzip.open(tmp / "mapping" / "mol.csv.gz", "wt", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow([*tasks, "smiles", "mol_id"])
            for i, (s, row) in enumerate(zip(smiles, labels)):
                writer.writerow([*("" if np.isnan(v) else fmt % v for v in row), s, i])
        (tmp / f"RELEASE_v{meta['version']}.txt").write_text(
            f"{name} built offline by graphformers from {path.name} (ogb.utils.smiles2graph, scaffold split)\n"
        )
    return ogb_dir(name, root)


def check_against_published(name: str, dataset, split: dict) -> dict:
    """Compare a built dataset with OGB's published counts; returns a dict for the record.

    Keys: ``graphs`` / ``published_graphs``, ``tasks`` / ``published_tasks`` (``master.csv``),
    ``split`` sizes, ``match`` (graphs and tasks equal).
    """
    meta = ogb_meta(name)
    out = {
        "dataset": name,
        "graphs": len(dataset),
        "published_graphs": PUBLISHED.get(name),
        "tasks": int(dataset.num_tasks),
        "published_tasks": int(meta["num tasks"]),
        "split": {k: int(len(v)) for k, v in split.items()},
    }
    out["match"] = out["graphs"] == out["published_graphs"] and out["tasks"] == out["published_tasks"]
    return out
