"""FreeSolv baselines (scaffold split): GINE, GINE+VN, GatedGCN+VN (MPNN) and the Graph Transformer.

The Graph Transformer is Dwivedi & Bresson's (LapPE-8, edge channel, 8 heads). Data:
the embedded FreeSolv copy (:func:`graphformers.datasets.embedded.load_freesolv`,
642 molecules) with OGB featurization, Bemis–Murcko scaffold split 80/10/10
(:func:`graphformers.datasets.molecules.scaffold_split`), targets standardised with
the training mean and std. Training: :func:`graphformers.training.graphprop.fit`
(MSE loss, Adam with a cosine schedule), batch 32, C = 64, 4 layers. Reported: test
RMSE in kcal/mol at the best validation epoch, mean ± unbiased std over seeds.

Prints one JSON line per model (mean, std, per-seed test RMSE, parameters, seconds
per epoch) and, last, the whole result as one JSON line; ``--out`` also writes it to
a file (an existing file is refused unless ``--overwrite``). Per-seed lines go to
stderr; ``fit``'s progress bar too (``--no-progress`` turns it off).

Usage::

    python scripts/freesolv_baselines.py --out results/freesolv_local.json   # 100 epochs, seeds 0,1,2
    python scripts/freesolv_baselines.py --quick                            # 3 epochs, seed 0
    python scripts/freesolv_baselines.py --quick --epochs 1 --limit 60 --models gine
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from ogb.graphproppred.mol_encoder import AtomEncoder, BondEncoder
from torch import Tensor, nn
from torch_geometric.data import Data
from torch_geometric.loader import DataLoader

from graphformers.cli.args import positive_int, seed_list
from graphformers.datasets.embedded import load_freesolv
from graphformers.datasets.molecules import scaffold_split, smiles_to_data
from graphformers.encodings.laplacian import LinearLapPE
from graphformers.evaluation.aggregate import count_parameters, mean_std
from graphformers.heads import GraphHead
from graphformers.local.gated_gcn import GatedGCN
from graphformers.local.gine import GINE
from graphformers.models.graph_transformer import GraphTransformer
from graphformers.models.mpnn import MPNN
from graphformers.training.graphprop import fit, rmse
from graphformers.transforms.positional import AddLaplacianPE
from graphformers.utils.io import strict_json_dumps, write_json_atomic

LAP_K = 8

# key -> (label in the results table, builder(channels, layers))
MODELS: dict[str, tuple[str, Callable[[int, int], nn.Module]]] = {
    "gine": ("GINE (MPNN)", lambda c, n: MPNN(
        AtomEncoder(c), [GINE(c) for _ in range(n)], GraphHead(c, 1), edge_encoder=BondEncoder(c))),
    "gine_vn": ("GINE+VN (MPNN)", lambda c, n: MPNN(
        AtomEncoder(c), [GINE(c) for _ in range(n)], GraphHead(c, 1), edge_encoder=BondEncoder(c),
        virtual_node=True)),
    "gatedgcn_vn": ("GatedGCN+VN (MPNN)", lambda c, n: MPNN(
        AtomEncoder(c), [GatedGCN(c) for _ in range(n)], GraphHead(c, 1), edge_encoder=BondEncoder(c),
        virtual_node=True)),
    "graph_transformer": ("GraphTransformer (LapPE-8, edges)", lambda c, n: GraphTransformer(
        AtomEncoder(c), c, 8, n, GraphHead(c, 1), edge_encoder=BondEncoder(c), pe_encoder=LinearLapPE(LAP_K, c))),
}


def parse_models(text: str) -> list[str]:
    keys = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [k for k in keys if k not in MODELS]
    if not keys or unknown:
        raise argparse.ArgumentTypeError(f"unknown model(s) {unknown or text!r}; choose from {', '.join(MODELS)}")
    return keys


def load_data(limit: int | None) -> tuple[dict[str, list[Data]], float, float]:
    """Scaffold-split FreeSolv graphs (with LapPE-8) and the training targets' mean and std;
    ``y`` is standardised with them."""
    smiles, values = load_freesolv()
    if limit is not None:
        smiles, values = smiles[:limit], values[:limit]
    lap = AddLaplacianPE(LAP_K)
    graphs = []
    for smi, val in zip(smiles, values):
        data = lap(smiles_to_data(smi))
        data.y = torch.tensor([[val]], dtype=torch.float)
        graphs.append(data)
    split = scaffold_split(smiles)
    train_y = torch.tensor([values[i] for i in split["train"].tolist()])
    mean, std = float(train_y.mean()), float(train_y.std())
    for g in graphs:
        g.y = (g.y - mean) / std
    subsets = {name: [graphs[i] for i in idx.tolist()] for name, idx in split.items()}
    empty = [name for name, subset in subsets.items() if not subset]
    if empty:
        raise ValueError(f"{len(graphs)} molecules are too few: the scaffold split leaves {empty} empty")
    return subsets, mean, std


def run_seed(key: str, subsets: dict[str, list[Data]], metric: Callable[[Tensor, Tensor], float],
             seed: int, args: argparse.Namespace) -> dict[str, Any]:
    """Train one model for one seed; the record of the best-validation epoch."""
    torch.manual_seed(seed)
    loaders = {name: DataLoader(subset, batch_size=args.batch_size, shuffle=name == "train",
                                generator=torch.Generator().manual_seed(seed) if name == "train" else None)
               for name, subset in subsets.items()}
    model = MODELS[key][1](args.channels, args.layers)
    res = fit(model, loaders, loss_fn=nn.MSELoss(), metric=metric, higher_is_better=False, epochs=args.epochs,
              lr=args.lr, progress=args.progress, desc=f"{key} seed {seed}")
    return {"seed": seed, "test": res.test_at_best_valid, "valid": res.best_valid, "best_epoch": res.best_epoch,
            "s_per_epoch": res.seconds_per_epoch, "params": count_parameters(model)}


def summarize_model(key: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    mean, std = mean_std([r["test"] for r in runs])
    return {"model": MODELS[key][0], "key": key, "params": runs[0]["params"], "test_mean": mean,
            "test_std": None if math.isnan(std) else std, "per_seed_test": [r["test"] for r in runs],
            "s_per_epoch": sum(r["s_per_epoch"] for r in runs) / len(runs)}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=positive_int, default=None, help="default: 100 (quick: 3)")
    p.add_argument("--seeds", type=seed_list, default=None, help="e.g. 0,1,2 or 0-2 (default: 0,1,2; quick: 0)")
    p.add_argument("--models", type=parse_models, default=list(MODELS),
                   help=f"comma-separated subset of {','.join(MODELS)} (default: all)")
    p.add_argument("--limit", type=positive_int, default=None, help="first N molecules only (for smoke runs)")
    p.add_argument("--channels", type=positive_int, default=64)
    p.add_argument("--layers", type=positive_int, default=4)
    p.add_argument("--batch-size", type=positive_int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--threads", type=positive_int, default=1, help="torch.set_num_threads (default: 1)")
    p.add_argument("--out", type=Path, default=None, help="also write the final JSON to this file")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    p.add_argument("--quick", action="store_true", help="3 epochs, seed 0 (unless --epochs/--seeds say otherwise)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no tqdm bar on stderr")
    args = p.parse_args(argv)
    if args.epochs is None:
        args.epochs = 3 if args.quick else 100
    if args.seeds is None:
        args.seeds = [0] if args.quick else [0, 1, 2]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.out is not None and args.out.exists() and not args.overwrite:
        print(f"error: {args.out} exists; pass --overwrite to replace it or choose another --out", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    t_all = time.perf_counter()
    try:
        subsets, mean, std = load_data(args.limit)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2

    def metric(y_true: Tensor, y_pred: Tensor) -> float:  # RMSE in kcal/mol
        return rmse(y_true * std + mean, y_pred * std + mean)

    sizes = {name: len(subset) for name, subset in subsets.items()}
    out: dict[str, Any] = {"dataset": "FreeSolv", "split": "scaffold 80/10/10", "split_sizes": sizes,
                           "metric": "test RMSE (kcal/mol) at the best validation epoch", "epochs": args.epochs,
                           "seeds": args.seeds, "channels": args.channels, "layers": args.layers,
                           "batch_size": args.batch_size, "lr": args.lr, "threads": args.threads,
                           "limit": args.limit, "models": {}}
    for key in args.models:
        runs = []
        for seed in args.seeds:
            runs.append(run_seed(key, subsets, metric, seed, args))
            print(strict_json_dumps({"model": MODELS[key][0], **runs[-1]}), file=sys.stderr, flush=True)
        summary = summarize_model(key, runs)
        out["models"][summary["model"]] = {**summary, "runs": runs}
        print(strict_json_dumps(summary), flush=True)
    out["wall_seconds"] = time.perf_counter() - t_all
    if args.out is not None:
        write_json_atomic(args.out, out)
    print(strict_json_dumps(out), flush=True)
    return 0 if all(math.isfinite(m["test_mean"]) for m in out["models"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
