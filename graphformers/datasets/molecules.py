"""Molecules from SMILES: OGB featurization, Bemis–Murcko scaffold split, MoleculeNet CSVs.

Graphs use OGB's featurization (:func:`ogb.utils.smiles2graph`, Hu et al. 2020,
"Strategies for Pre-training Graph Neural Networks", https://arxiv.org/abs/1905.12265):
``x`` long ``[N, 9]`` (atom type, chirality, degree, charge, #H, radicals,
hybridization, aromatic, in ring), ``edge_index`` long ``[2, E]`` with every bond in
both directions (``E = 2 * #bonds``), ``edge_attr`` long ``[E, 3]`` (bond type,
stereo, conjugated).

SMILES that RDKit parses but whose full sanitization fails (hypervalent Al, B, Ge
complexes in HIV and Tox21 that older RDKit releases accepted, which is why OGB
kept them) are read with ``sanitize=False`` and then *partially* sanitized: the
property cache is updated without the strict valence check and every other
sanitization step (ring perception, Kekulé form, aromaticity, conjugation,
hybridization) runs with ``catchErrors=True``, then stereochemistry is assigned
as ``MolFromSmiles`` does. The same OGB feature functions then
featurize them, so the atom/bond vectors are what the full path would produce for
every feature that does not depend on the rejected valence. Only SMILES that RDKit
cannot parse at all raise :class:`ValueError`.
"""

from __future__ import annotations

import csv
import gzip
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data

__all__ = [
    "mol_from_smiles",
    "partially_sanitized_mol",
    "mol_to_graph",
    "smiles_to_graph",
    "smiles_to_data",
    "murcko_scaffold",
    "scaffold_split",
    "read_molecule_csv",
]


def _chem():
    try:
        from rdkit import Chem, RDLogger
    except ImportError as err:  # pragma: no cover - rdkit is an optional dependency
        raise ImportError("molecule support needs RDKit: pip install rdkit") from err
    RDLogger.DisableLog("rdApp.*")
    return Chem


def mol_from_smiles(smiles: str) -> tuple[object, bool]:
    """Parse ``smiles`` into an RDKit molecule.

    Returns:
        ``(mol, sanitized)``: ``sanitized`` is ``False`` when full sanitization failed
        and the partial sanitization described in the module docstring was used.

    Raises:
        ValueError: RDKit cannot parse the SMILES even without sanitization.
    """
    Chem = _chem()
    if not isinstance(smiles, str) or not smiles.strip():
        raise ValueError(f"empty or non-string SMILES: {smiles!r}")
    mol = Chem.MolFromSmiles(smiles)
    if mol is not None:
        return mol, True
    return partially_sanitized_mol(smiles), False


def partially_sanitized_mol(smiles: str):
    """Parse without sanitization, then sanitize everything except the strict valence check.

    Raises:
        ValueError: RDKit cannot parse the SMILES at all.
    """
    Chem = _chem()
    mol = Chem.MolFromSmiles(smiles, sanitize=False)
    if mol is None:
        raise ValueError(f"RDKit cannot parse SMILES {smiles!r}")
    mol.UpdatePropertyCache(strict=False)
    ops = Chem.SanitizeFlags.SANITIZE_ALL ^ Chem.SanitizeFlags.SANITIZE_PROPERTIES
    Chem.SanitizeMol(mol, sanitizeOps=ops, catchErrors=True)
    Chem.AssignStereochemistry(mol, cleanIt=True, force=True)  # as MolFromSmiles does after sanitizing
    return mol


def mol_to_graph(mol) -> dict[str, np.ndarray | int]:
    """OGB's graph dict (``node_feat``, ``edge_index``, ``edge_feat``, ``num_nodes``) for an RDKit mol.

    The same features and edge order as :func:`ogb.utils.smiles2graph` (bond ``k``
    gives directed edges ``2k`` (begin -> end) and ``2k+1`` (end -> begin)); used for
    molecules that need partial sanitization, where ``smiles2graph`` cannot be called.
    """
    from ogb.utils.features import atom_to_feature_vector, bond_to_feature_vector

    x = np.array([atom_to_feature_vector(a) for a in mol.GetAtoms()], dtype=np.int64).reshape(-1, 9)
    src, dst, feats = [], [], []
    for bond in mol.GetBonds():
        i, j = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
        f = bond_to_feature_vector(bond)
        src += [i, j]
        dst += [j, i]
        feats += [f, f]
    return {
        "edge_index": np.array([src, dst], dtype=np.int64).reshape(2, -1),
        "edge_feat": np.array(feats, dtype=np.int64).reshape(-1, 3),
        "node_feat": x,
        "num_nodes": int(x.shape[0]),
    }


def smiles_to_graph(smiles: str) -> dict[str, np.ndarray | int]:
    """OGB graph dict for ``smiles`` (:func:`ogb.utils.smiles2graph`, or the partial-sanitization path)."""
    from ogb.utils import smiles2graph

    mol, sanitized = mol_from_smiles(smiles)
    return smiles2graph(smiles) if sanitized else mol_to_graph(mol)


def smiles_to_data(smiles: str, y: Tensor | Sequence[float] | float | None = None) -> Data:
    """A PyG :class:`~torch_geometric.data.Data` for one molecule.

    Args:
        smiles: the SMILES string.
        y: optional target(s); stored as a float tensor of shape ``[1, T]``.

    Returns:
        ``Data(x [N, 9] long, edge_index [2, E] long, edge_attr [E, 3] long, smiles, y?)``.
    """
    g = smiles_to_graph(smiles)
    data = Data(
        x=torch.from_numpy(g["node_feat"]).long(),
        edge_index=torch.from_numpy(g["edge_index"]).long(),
        edge_attr=torch.from_numpy(g["edge_feat"]).long(),
        num_nodes=int(g["num_nodes"]),
        smiles=smiles,
    )
    if y is not None:
        data.y = torch.as_tensor(y, dtype=torch.float).view(1, -1)
    return data


def murcko_scaffold(smiles: str, include_chirality: bool = True) -> str:
    """Bemis–Murcko scaffold SMILES of a molecule (``""`` for acyclic molecules).

    Same as ``MurckoScaffold.MurckoScaffoldSmiles(smiles, includeChirality=True)``, the
    call of the reference split; molecules that need partial sanitization get the same
    decomposition without RDKit's strict valence re-check.
    """
    from rdkit.Chem.Scaffolds import MurckoScaffold

    mol, sanitized = mol_from_smiles(smiles)
    if sanitized:
        return MurckoScaffold.MurckoScaffoldSmiles(mol=mol, includeChirality=include_chirality)
    # RDKit's GetScaffoldForMol re-checks valences strictly; do its three steps without that check.
    Chem = _chem()
    core = Chem.MurckoDecompose(mol)
    core.ClearComputedProps()
    core.UpdatePropertyCache(strict=False)
    Chem.GetSymmSSSR(core)
    return Chem.MolToSmiles(core, isomericSmiles=include_chirality)


def scaffold_split(
    smiles: Sequence[str], frac_train: float = 0.8, frac_valid: float = 0.1
) -> dict[str, Tensor]:
    """Deterministic Bemis–Murcko scaffold split (Hu et al. 2020; the split of OGB's ``ogbg-mol*``).

    Molecules are grouped by scaffold (with chirality). Groups are sorted by size,
    largest first; groups of equal size by their smallest molecule index, *larger
    index first* (the reference sorts the key ``(size, first index)`` in reverse).
    Groups then fill train while it stays within ``frac_train * n``, then valid while
    train + valid stay within ``(frac_train + frac_valid) * n``; the rest is test.
    Whole scaffold groups never straddle two splits.

    Args:
        smiles: the molecules, in dataset order.
        frac_train: fraction for training (default: 0.8).
        frac_valid: fraction for validation (default: 0.1); test gets the rest.

    Returns:
        ``{"train", "valid", "test"}`` -> long index tensors, in the order groups were assigned.
    """
    if not (0.0 <= frac_train <= 1.0 and 0.0 <= frac_valid <= 1.0 and frac_train + frac_valid <= 1.0 + 1e-9):
        raise ValueError(f"bad fractions frac_train={frac_train}, frac_valid={frac_valid}")
    groups: dict[str, list[int]] = {}
    for i, s in enumerate(smiles):
        groups.setdefault(murcko_scaffold(s), []).append(i)
    ordered = sorted(groups.values(), key=lambda idx: (len(idx), idx[0]), reverse=True)
    n = len(smiles)
    train_cut, valid_cut = frac_train * n, (frac_train + frac_valid) * n
    train: list[int] = []
    valid: list[int] = []
    test: list[int] = []
    for idx in ordered:
        if len(train) + len(idx) <= train_cut:
            train += idx
        elif len(train) + len(valid) + len(idx) <= valid_cut:
            valid += idx
        else:
            test += idx
    return {k: torch.tensor(v, dtype=torch.long) for k, v in (("train", train), ("valid", valid), ("test", test))}


def _open_text(path: Path):
    with open(path, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rt", newline="") if gz else open(path, newline="")


def read_molecule_csv(
    path: str | Path, smiles_col: str, task_cols: Sequence[str]
) -> tuple[list[str], Tensor]:
    """Read a MoleculeNet-style CSV (plain or gzip).

    Args:
        path: the CSV file.
        smiles_col: name of the SMILES column.
        task_cols: names of the label columns, in output order.

    Returns:
        ``(smiles, y)``: the SMILES list and a float tensor ``[num_rows, len(task_cols)]``
        with NaN for empty cells (missing labels).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: missing columns, a ragged row, an empty SMILES or a non-numeric
            label; the message names the file and line.
    """
    smiles, y, _ = _read_molecule_rows(path, smiles_col, task_cols)
    return smiles, y


def _read_molecule_rows(
    path: str | Path, smiles_col: str, task_cols: Sequence[str]
) -> tuple[list[str], Tensor, list[int]]:
    """:func:`read_molecule_csv` plus the file line of every molecule (blank lines are
    skipped, so errors found later, such as an unparsable SMILES, can name the right line)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"molecule CSV {p} does not exist")
    smiles: list[str] = []
    rows: list[list[float]] = []
    lines: list[int] = []
    with _open_text(p) as fh:
        reader = csv.reader(fh)
        try:
            header = next(reader)
        except StopIteration:
            raise ValueError(f"{p}: empty file (no header)") from None
        except (csv.Error, UnicodeDecodeError, OSError) as err:
            raise ValueError(f"{p}: line 1: cannot read the header: {err}") from err
        missing = [c for c in [smiles_col, *task_cols] if c not in header]
        if missing:
            raise ValueError(f"{p}: columns {missing} not in header {header}")
        s_at = header.index(smiles_col)
        t_at = [header.index(c) for c in task_cols]
        line = 1
        try:
            for line, row in enumerate(reader, start=2):
                if not row:
                    continue
                if len(row) != len(header):
                    raise ValueError(f"{p}: line {line}: {len(row)} fields, header has {len(header)}")
                s = row[s_at].strip()
                if not s:
                    raise ValueError(f"{p}: line {line}: empty SMILES")
                values = []
                for c, at in zip(task_cols, t_at):
                    cell = row[at].strip()
                    try:
                        values.append(float(cell) if cell else math.nan)
                    except ValueError:
                        raise ValueError(f"{p}: line {line}: column {c!r}: {cell!r} is not a number") from None
                smiles.append(s)
                rows.append(values)
                lines.append(line)
        except (csv.Error, UnicodeDecodeError, OSError, EOFError) as err:
            raise ValueError(f"{p}: line {line + 1}: unreadable: {err}") from err
    y = torch.tensor(rows, dtype=torch.float).view(len(rows), len(task_cols))
    return smiles, y, lines
