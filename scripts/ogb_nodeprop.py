#!/usr/bin/env python
"""OGB node-property leaderboard driver (full-batch), one script for every ``ogbn-*`` config.

Same protocol as ``ogb_graphprop.py``: the official :class:`ogb.nodeproppred.Evaluator`,
the epoch chosen by validation only (test reported there), ``--seeds``, mean ± unbiased
std and #params, one ``seed_<k>.json`` per seed plus ``summary.json`` and ``row.md``.
The config (``scripts/configs/ogb/arxiv.yaml``) holds the dataset, the training
budget and, unless ``--model`` is given, the model section. Datasets come from
:func:`graphformers.datasets.ogb.node_dataset` (a local OGB raw folder, or a download
where internet exists). ``--smoke`` trains on a 60-node graph written in the
``ogbn-arxiv`` raw layout in a temporary folder; its results are labelled
``<dataset> (smoke)`` and go by default to ``results/ogb/smoke_<model>_<dataset>``.
The config is checked (keys, types, a model that builds) before the data is
loaded; ``--overwrite`` and ``--resume`` work as in ``ogb_graphprop.py``. Example::

    python scripts/ogb_nodeprop.py --config scripts/configs/ogb/arxiv.yaml --root data/ogb --seeds 0-9
"""

from __future__ import annotations

import argparse
import copy
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ogb_graphprop import (  # noqa: E402
    _load_yaml,
    begin_results,
    check_config,
    exit_code,
    mark_smoke,
    output_folder,
    pending_seeds,
    save_seed,
    set_seed,
    write_summary,
)

from graphformers.cli.args import add_results_folder_options, seed_list  # noqa: E402
from graphformers.evaluation.aggregate import count_parameters  # noqa: E402

#: Keys of the merged config and of its ``train`` section, with the type each value must have.
CONFIG_KEYS = ("name", "dataset", "train", "model", "model_name")
TRAIN_KEYS = {"epochs": "positive int", "lr": "positive number", "weight_decay": "non-negative number",
              "to_undirected": "true or false", "constant_edge_attr": "true or false"}

SMOKE_MODEL = {
    "name": "mpnn", "channels": 16, "num_layers": 1, "dropout": 0.0,
    "node_encoder": {"name": "linear", "in_channels": 8},
    "edge_encoder": {"name": "linear", "in_channels": 1},
    "local": {"name": "gine"}, "head": {"level": "node", "num_layers": 2}, "virtual_node": False,
}


def smoke_dataset(root: Path) -> None:
    """A 60-node, 8-feature graph in the ``ogbn-arxiv`` raw layout (labels follow the features)."""
    from graphformers.datasets.ogb import write_node_dataset

    gen = np.random.default_rng(0)
    n = 60
    x = gen.standard_normal((n, 8)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + 2 * (x[:, 1] > 0)
    src = gen.integers(0, n, 240)
    dst = gen.integers(0, n, 240)
    perm = gen.permutation(n)
    write_node_dataset("ogbn-arxiv", root, edge_index=np.stack([src, dst]), x=x, y=y[:, None],
                       split={"train": perm[:36], "valid": perm[36:48], "test": perm[48:]},
                       node_files={"node_year": np.full(n, 2020)})


def check_dataset(cfg: dict[str, Any]) -> None:
    """Refuse, before loading, a dataset this driver cannot train: it needs a homogeneous
    ``ogbn-*`` multiclass task (cross-entropy on one label per node, accuracy)."""
    from graphformers.datasets.ogb import ogb_meta

    name = cfg["dataset"]
    if not name.startswith("ogbn-"):
        raise ValueError(f"dataset {name!r}: expected an ogbn-* name")
    meta = ogb_meta(name)
    if meta["task type"] != "multiclass classification" or meta["is hetero"] == "True":
        kind = "heterogeneous" if meta["is hetero"] == "True" else repr(meta["task type"])
        raise ValueError(f"dataset {name!r} is not supported by this driver: it is {kind}; it trains "
                         "homogeneous multiclass classification only")


def prepare(data, cfg: dict[str, Any]):
    """Make ``y`` a vector, make the graph undirected and add a constant edge feature if asked."""
    from torch_geometric.utils import to_undirected

    data = copy.copy(data)
    if cfg["train"].get("to_undirected", True):
        data.edge_index = to_undirected(data.edge_index, num_nodes=data.num_nodes)
    if cfg["train"].get("constant_edge_attr", False):
        data.edge_attr = torch.ones(data.edge_index.size(1), 1)
    data.x = data.x.float()
    return data


def run_seed(cfg: dict[str, Any], data, split: dict, num_classes: int, seed: int, *, progress: bool = True):
    from ogb.nodeproppred import Evaluator

    from graphformers.models.factory import build_model

    set_seed(seed)
    train = cfg["train"]
    evaluator = Evaluator(cfg["dataset"])
    metric = evaluator.eval_metric
    model = build_model(cfg, out_channels=num_classes)
    opt = torch.optim.Adam(model.parameters(), lr=float(train.get("lr", 1e-2)),
                           weight_decay=float(train.get("weight_decay", 0.0)))
    y = data.y.view(-1)
    history, best = [], {"epoch": -1, "valid": -math.inf, "test": math.nan}
    bar = tqdm(range(1, int(train["epochs"]) + 1), desc=f"{cfg['model_name']} {cfg['dataset']} seed {seed}",
               disable=not progress)
    start = time.perf_counter()
    for epoch in bar:
        model.train()
        opt.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(model(data)[split["train"]], y[split["train"]])
        loss.backward()
        opt.step()
        model.eval()
        with torch.no_grad():
            pred = model(data).argmax(dim=-1, keepdim=True)
        scores = {part: float(evaluator.eval({"y_true": data.y.view(-1, 1)[split[part]],
                                              "y_pred": pred[split[part]]})[metric])
                  for part in ("train", "valid", "test")}
        history.append({"epoch": epoch, "train_loss": float(loss.detach()), **scores})
        if scores["valid"] > best["valid"]:
            best = {"epoch": epoch, "valid": scores["valid"], "test": scores["test"]}
        bar.set_postfix(loss=f"{float(loss.detach()):.3f}", valid=f"{scores['valid']:.3f}")
    import ogb

    return {
        "model": cfg["model_name"], "dataset": cfg["dataset"], "metric": metric, "seed": seed,
        "params": count_parameters(model), "valid": best["valid"], "test": best["test"],
        "best_epoch": best["epoch"], "seconds_per_epoch": (time.perf_counter() - start) / max(len(history), 1),
        "history": history, "config": cfg,
        "versions": {"ogb": ogb.__version__, "torch": torch.__version__},
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", help="dataset config (scripts/configs/ogb/<name>.yaml)")
    p.add_argument("--model", help="model config replacing the config's model section (packaged name or path)")
    p.add_argument("--name", help="model label in results")
    p.add_argument("--seeds", type=seed_list, default=None, help="e.g. 0-9 (default) or 0,1,2")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override, e.g. train.epochs=50")
    p.add_argument("--out", type=Path, help="results folder (default results/ogb/<model>_<dataset>; "
                   "--smoke: results/ogb/smoke_<model>_<dataset>)")
    p.add_argument("--root", type=Path, help="OGB dataset root (default: cache_root()/ogb)")
    add_results_folder_options(p)
    p.add_argument("--threads", type=int, default=None,
                   help="torch.set_num_threads(N) (default: no call, torch's own setting; with torch 2.13 on "
                   "CPU the call slows the flash kernel of scaled_dot_product_attention, see "
                   "docs/results.md#bench-gps)")
    p.add_argument("--smoke", action="store_true", help="60-node graph in the arxiv layout, 3 epochs, 2 seeds")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    from graphformers.models.factory import apply_overrides, load_config

    if args.threads:
        torch.set_num_threads(args.threads)
    if not args.smoke and not args.config:
        p.error("--config is required (or --smoke)")
    try:
        if args.smoke:
            cfg = {"dataset": "ogbn-arxiv", "train": {"epochs": 3, "lr": 0.01, "constant_edge_attr": True},
                   "model": copy.deepcopy(SMOKE_MODEL)}
            seeds = args.seeds or [0, 1]
        else:
            cfg = _load_yaml(args.config)
            seeds = args.seeds or list(range(10))
        if args.model:
            cfg["model"] = load_config(args.model)["model"]
        if "model" not in cfg or "train" not in cfg or "dataset" not in cfg:
            raise ValueError("the config needs 'dataset', 'train' and 'model' sections (or pass --model)")
        cfg["model_name"] = args.name or (Path(args.model).stem if args.model else cfg.get("name", "model"))
        cfg = apply_overrides(cfg, args.set or [])
        check_config(cfg, config_keys=CONFIG_KEYS, train_keys=TRAIN_KEYS)
        check_dataset(cfg)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out = output_folder(args.out, cfg, args.overwrite, resume=args.resume, smoke=args.smoke)
    if out is None:
        return 2
    todo = pending_seeds(out, seeds, resume=args.resume)
    if len(todo) < len(seeds):
        print(f"--resume: seeds {[s for s in seeds if s not in todo]} already in {out}; running {todo}",
              file=sys.stderr)
    if todo:
        from graphformers.datasets.ogb import node_dataset, split_indices

        with tempfile.TemporaryDirectory() as tmp:
            root = args.root
            if args.smoke:
                root = Path(tmp)
                smoke_dataset(root)
            try:
                ds = node_dataset(cfg["dataset"], root)
            except (FileNotFoundError, ValueError) as err:
                print(f"error: {err}", file=sys.stderr)
                return 2
            data = prepare(ds[0], cfg)
            split = split_indices(ds)
            num_classes = int(ds.num_classes)
        begin_results(out, cfg, resume=args.resume, smoke=args.smoke)
        for seed in todo:
            record = run_seed(copy.deepcopy(cfg), data, split, num_classes, seed, progress=not args.no_progress)
            save_seed(out, mark_smoke(record) if args.smoke else record)
    _, results = write_summary(out)
    return exit_code(results)


if __name__ == "__main__":
    sys.exit(main())
