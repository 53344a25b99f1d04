#!/usr/bin/env python
"""OGB graph-property leaderboard driver: one script for every ``ogbg-*`` config.

Follows OGB's experimental protocol: the official :class:`ogb.graphproppred.Evaluator`,
model selection on the validation split only (the test metric is logged every epoch
and *reported at the best-validation epoch*), fixed seeds (``--seeds 0-9``), mean ±
unbiased std over seeds and the parameter count. Writes::

    <out>/seed_<k>.json     # config, params, best epoch, valid/test there, curve, s/epoch
    <out>/summary.json      # mean ± std over the seeds found in <out>
    <out>/row.md            # a Markdown table row (graphformers.evaluation.aggregate)

Per-dataset differences (dataset name, evaluator, epochs, batch size, lr) live in
``scripts/configs/ogb/<dataset>.yaml``; the model comes from a model config
(``--model``, a packaged name such as ``molecules_gine_transformer_rwse`` or a path);
``--set key=value`` overrides either. Example::

    python scripts/ogb_graphprop.py --config scripts/configs/ogb/molbbbp.yaml \\
        --model molecules_gine --seeds 0-4 --out results/ogb/gine_molbbbp

``--smoke`` runs two seeds of a one-layer model for two epochs on a 40-molecule
dataset built in a temporary folder (seconds, no data needed).
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from torch import nn

from graphformers.cli.args import seed_list
from graphformers.evaluation.aggregate import count_parameters, markdown_row, summarize, write_json

CONFIG_DIR = Path(__file__).resolve().parent / "configs" / "ogb"
HIGHER_IS_BETTER = {"rocauc": True, "ap": True, "acc": True, "f1": True, "rmse": False, "mae": False}


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _load_yaml(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.exists() and (CONFIG_DIR / f"{p.stem}.yaml").exists():
        p = CONFIG_DIR / f"{p.stem}.yaml"
    if not p.exists():
        raise FileNotFoundError(f"config {path} not found (dataset configs are in {CONFIG_DIR})")
    with open(p) as fh:
        cfg = yaml.safe_load(fh)
    if not isinstance(cfg, dict):
        raise ValueError(f"{p}: a config must be a YAML mapping")
    return cfg


def build_config(args: argparse.Namespace) -> dict[str, Any]:
    """Merge the dataset config, the model config and ``--set`` overrides."""
    from graphformers.models.factory import apply_overrides, load_config

    cfg = _load_yaml(args.config)
    for key in ("dataset", "train"):
        if key not in cfg:
            raise ValueError(f"{args.config}: missing section {key!r}")
    model_cfg = load_config(args.model)
    model = {**model_cfg["model"], **cfg.pop("model_overrides", {})}  # per-dataset budget (width, depth)
    cfg = {**cfg, "model": model, "model_name": args.name or Path(args.model).stem}
    return apply_overrides(cfg, args.set or [])


# --- data ---------------------------------------------------------------------------------------

SMOKE_RINGS = ["c1ccccc1", "c1ccncc1", "C1CCCCC1", "c1ccoc1", "c1ccsc1", "C1CCNCC1", "C1CCOC1", "c1ccc2ccccc2c1"]
SMOKE_SUBSTITUENTS = ["C", "O", "N", "Cl", "CC"]


def smoke_dataset(root: Path) -> tuple[str, Path]:
    """A 40-molecule ``ogbg-molbace``-shaped folder (8 scaffolds × 5 substituents, labels alternate)."""
    from graphformers.datasets.ogb_mol import build_mol_dataset

    csv_path = root / "smoke.csv"
    lines = ["mol,Class"]
    for ring in SMOKE_RINGS:
        for k, sub in enumerate(SMOKE_SUBSTITUENTS):
            lines.append(f"{sub}{ring},{k % 2}")
    csv_path.write_text("\n".join(lines) + "\n")
    build_mol_dataset("ogbg-molbace", root, csv_path, progress=False)
    return "ogbg-molbace", root


def load_dataset(cfg: dict[str, Any], root: Path | None):
    """``(graphs, split, num_tasks, task_type)`` for the config's dataset."""
    name = cfg["dataset"]
    if name.startswith("ogbg-"):
        from graphformers.datasets.ogb import graph_dataset, split_indices

        ds = graph_dataset(name, root)
        split = split_indices(ds)
        return [ds[i] for i in range(len(ds))], split, int(ds.num_tasks), ds.task_type
    if name == "peptides-func":
        from graphformers.datasets.peptides import peptides_func

        graphs, split = peptides_func()
        return graphs, split, int(graphs[0].y.shape[-1]), "binary classification"
    raise ValueError(f"dataset {name!r}: expected an ogbg-* name or peptides-func")


# --- one seed -----------------------------------------------------------------------------------


def make_metric(evaluator_name: str, num_tasks: int):
    """The official evaluator's metric as ``metric(y_true, y_pred) -> float``.

    A non-OGB dataset may borrow an OGB evaluator for its metric code (Peptides-func
    uses ``ogbg-molpcba``'s per-task average precision); its task count is then set to
    the dataset's, since OGB's check compares it with ``master.csv``.
    """
    from ogb.graphproppred import Evaluator

    evaluator = Evaluator(evaluator_name)
    evaluator.num_tasks = num_tasks
    key = evaluator.eval_metric

    def metric(y_true: torch.Tensor, y_pred: torch.Tensor) -> float:
        return float(evaluator.eval({"y_true": y_true.cpu(), "y_pred": y_pred.cpu()})[key])

    return metric, key


def run_seed(cfg: dict[str, Any], graphs: list, split: dict, num_tasks: int, task_type: str, seed: int,
             *, progress: bool = True) -> dict[str, Any]:
    from torch_geometric.loader import DataLoader

    from graphformers.models.factory import build_model
    from graphformers.training.graphprop import fit

    train = cfg["train"]
    set_seed(seed)
    metric, metric_name = make_metric(cfg.get("evaluator", cfg["dataset"]), num_tasks)
    loaders = {
        part: DataLoader([graphs[int(i)] for i in split[part]], batch_size=int(train.get("batch_size", 32)),
                         shuffle=part == "train")
        for part in ("train", "valid", "test")
    }
    model = build_model(cfg, out_channels=num_tasks)
    loss_fn = nn.BCEWithLogitsLoss() if "classification" in task_type else nn.MSELoss()
    result = fit(model, loaders, loss_fn=loss_fn, metric=metric, higher_is_better=HIGHER_IS_BETTER[metric_name],
                 epochs=int(train["epochs"]), lr=float(train.get("lr", 1e-3)),
                 weight_decay=float(train.get("weight_decay", 0.0)), progress=progress,
                 desc=f"{cfg['model_name']} {cfg['dataset']} seed {seed}")
    import ogb
    import torch_geometric

    return {
        "model": cfg["model_name"],
        "dataset": cfg["dataset"],
        "metric": metric_name,
        "seed": seed,
        "params": count_parameters(model),
        "valid": result.best_valid,
        "test": result.test_at_best_valid,
        "best_epoch": result.best_epoch,
        "seconds_per_epoch": result.seconds_per_epoch,
        "history": result.to_dict()["history"],
        "config": cfg,
        "versions": {"ogb": ogb.__version__, "torch": torch.__version__, "torch_geometric": torch_geometric.__version__},
    }


def restrict_train(graphs: list, split: dict, subset: int | None) -> tuple[list, dict]:
    """Keep the first ``subset`` training graphs of the official split (valid/test stay whole)
    and only the graphs some split uses, re-indexed (a stated budget reduction)."""
    if subset is None:
        return graphs, split
    if int(subset) <= 0:
        raise ValueError(f"train.subset must be positive, got {subset}")
    split = {**split, "train": split["train"][: int(subset)]}
    kept, new_split = [], {}
    for part in ("train", "valid", "test"):
        new_split[part] = torch.arange(len(kept), len(kept) + len(split[part]))
        kept += [graphs[int(i)] for i in split[part]]
    return kept, new_split


def precompute_transforms(cfg: dict[str, Any], graphs: list, cache: Path | None) -> list:
    """Positional/structural encodings the model config needs, computed once for all seeds."""
    from graphformers.models.factory import build_transforms
    from graphformers.transforms.cache import precompute

    for transform in build_transforms(cfg):
        path = None if cache is None else cache / f"{cfg['dataset']}_{transform!r}.pt"
        graphs = precompute(graphs, transform, path) if path is not None else [transform(g) for g in graphs]
    return graphs


# --- main ---------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", help="dataset config (scripts/configs/ogb/<name>.yaml or its name)")
    p.add_argument("--model", help="model config: packaged name (e.g. molecules_gine) or YAML path")
    p.add_argument("--name", help="model label in results (default: the model config's name)")
    p.add_argument("--seeds", type=seed_list, default=None, help="e.g. 0-9 (default; --smoke: 0,1) or 0,1,2")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override, e.g. train.epochs=30")
    p.add_argument("--out", type=Path, help="results folder (default results/ogb/<model>_<dataset>)")
    p.add_argument("--root", type=Path, help="OGB dataset root (default: cache_root()/ogb)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing results folder's seed files")
    p.add_argument("--threads", type=int, default=None,
                   help="torch.set_num_threads(N) (default: no call, torch's own setting; with torch 2.13 on "
                   "CPU the call slows the flash kernel of scaled_dot_product_attention, see "
                   "docs/results.md#bench-gps)")
    p.add_argument("--smoke", action="store_true", help="tiny built-in dataset, 1-layer model, 2 epochs, 2 seeds")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    if args.smoke:
        args.config = args.config or "smoke"
        args.model = args.model or "molecules_gine_transformer_rwse"
    elif not args.config or not args.model:
        p.error("--config and --model are required (or --smoke)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.smoke:
        args.set = ["train.epochs=2", "train.batch_size=8", "model.channels=16", "model.num_layers=1",
                    *(args.set or [])]
    if args.seeds is None:
        args.seeds = [0, 1] if args.smoke else list(range(10))
    try:
        cfg = build_config(args)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.smoke:
        # shrink what the config sizes; a PE without its own width (the Graph Transformer's,
        # added to the input) is as wide as the shrunk model
        for pe in cfg["model"].get("pe", []):
            for key, small in (("walk_length", 4), ("channels", 4)):
                if key in pe:
                    pe[key] = small
    out = output_folder(args.out, cfg, args.overwrite)
    if out is None:
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        root = args.root
        if args.smoke:
            cfg["dataset"], root = smoke_dataset(Path(tmp))
        graphs, split, num_tasks, task_type = load_dataset(cfg, root)
        graphs, split = restrict_train(graphs, split, cfg["train"].get("subset"))
        t0 = time.perf_counter()
        graphs = precompute_transforms(cfg, graphs, None if args.smoke else _cache_dir())
        pe_seconds = time.perf_counter() - t0
        results = []
        for seed in args.seeds:
            record = run_seed(copy.deepcopy(cfg), graphs, split, num_tasks, task_type, seed,
                              progress=not args.no_progress)
            record["pe_seconds"] = pe_seconds
            save_seed(out, record, fresh=not results)
            results.append(record)
    write_summary(out, results)
    return 0 if all(math.isfinite(r["test"]) for r in results) else 1


def output_folder(out: Path | None, cfg: dict[str, Any], overwrite: bool) -> Path | None:
    """``out`` (default ``results/ogb/<model>_<dataset>``), or None with a message when it holds
    files and ``overwrite`` is not set."""
    out = out or Path("results") / "ogb" / f"{cfg['model_name']}_{cfg['dataset']}"
    if out.exists() and any(out.iterdir()) and not overwrite:
        print(f"error: results folder {out} is not empty; pass --overwrite to replace its seed files",
              file=sys.stderr)
        return None
    return out


def save_seed(out: Path, record: dict[str, Any], *, fresh: bool) -> None:
    """Write ``seed_<k>.json`` atomically (removing older seed files first when ``fresh``) and echo a line."""
    out.mkdir(parents=True, exist_ok=True)
    if fresh:
        for stale in out.glob("seed_*.json"):
            stale.unlink()
    write_json(out / f"seed_{record['seed']}.json", record)
    print(json.dumps({k: record.get(k) for k in ("model", "dataset", "seed", "valid", "test", "best_epoch",
                                                 "seconds_per_epoch", "params")}), flush=True)


def write_summary(out: Path, results: list[dict[str, Any]]) -> str:
    """``summary.json`` and ``row.md`` (mean ± unbiased std over seeds); returns the row."""
    summary = summarize(results)
    write_json(out / "summary.json", summary)
    row = markdown_row(summary)
    (out / "row.md").write_text(row + "\n")
    print(row)
    return row


def _cache_dir() -> Path:
    from graphformers.settings import cache_root

    return cache_root() / "transforms"


if __name__ == "__main__":
    sys.exit(main())
