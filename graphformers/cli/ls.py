"""``graphformers ls models|datasets``: what the library offers, with citations."""

from __future__ import annotations

import argparse
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


def list_datasets() -> list[dict[str, Any]]:
    """KG benchmarks from :data:`graphformers.datasets.kg.DATASETS` with published counts."""
    from graphformers.datasets.kg import DATASETS
    from graphformers.settings import data_root

    root = data_root()
    rows = []
    for name, spec in DATASETS.items():
        local = root is not None and (root / spec.folder).is_dir()
        rows.append({"name": name, "task": "kgc", "entities": spec.entities, "relations": spec.relations,
                     "train": spec.train, "valid": spec.valid, "test": spec.test, "local": local,
                     "citation": spec.citation, "note": spec.note, "url": spec.url})
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
            counts = f"{r['entities']:>6} ent {r['relations']:>4} rel {r['train']:>7}/{r['valid']}/{r['test']}"
            flag = "local" if r["local"] else "download"
            print(f"{r['name']:<10} {counts:<42} {flag:<8} {r['citation']}" + (f"  [{r['note']}]" if r["note"] else ""))
    return 0
