"""Run `graphformers kgc train` over datasets x models x seeds and aggregate the metrics.

Each run goes to ``OUT/<dataset>-<model>-seed<k>`` (an existing finished run,
one with ``metrics.json``, is reused, so the script can be restarted). The last
JSON line on stdout holds, per (dataset, model), the filtered test MRR and
Hits@1/3/10 (realistic ties, both sides) as mean and std over seeds, plus the
training time.

Usage::

    python scripts/kgc_results.py --out /tmp/kgc --runs umls:complex umls:rotate --seeds 0 1 2
    python scripts/kgc_results.py --quick      # nations:complex, one seed, 20 epochs
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
from pathlib import Path


def run_one(out: Path, dataset: str, model: str, seed: int, extra: list[str]) -> dict:
    from graphformers.cli import main as cli_main

    run_dir = out / f"{dataset}-{model}-seed{seed}"
    metrics = run_dir / "metrics.json"
    if not metrics.is_file():
        args = ["kgc", "train", "--dataset", dataset, "--model", model, "--out", str(run_dir),
                "--set", f"seed={seed}", "--no-progress", *extra]
        if run_dir.is_dir():
            args.append("--overwrite")
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(sys.stderr):  # stdout carries only this script's JSON lines
            code = cli_main(args)
        if code != 0:
            raise SystemExit(f"run {run_dir} failed with exit code {code}")
        print(json.dumps({"run": run_dir.name, "wall_seconds": round(time.perf_counter() - t0, 1)}),
              file=sys.stderr)
    return json.loads(metrics.read_text())


def aggregate(results: list[dict]) -> dict:
    """Mean and std (over seeds) of the test metrics, realistic ties, both sides."""
    out: dict = {"seeds": [r["seed"] for r in results]}
    for key in ("mrr", "hits@1", "hits@3", "hits@10"):
        vals = [r["test"]["realistic"]["both"][key] for r in results]
        out[key] = {"mean": statistics.fmean(vals), "std": statistics.stdev(vals) if len(vals) > 1 else 0.0}
    out["valid_mrr"] = statistics.fmean(r["valid"]["realistic"]["both"]["mrr"] for r in results)
    out["train_seconds"] = statistics.fmean(r["train_seconds"] for r in results)
    out["epochs"] = [r["epochs_trained"] for r in results]
    out["best_epoch"] = [r["best_epoch"] for r in results]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="kgc_runs", help="root folder of the runs")
    parser.add_argument("--runs", nargs="+", default=["umls:complex", "kinships:complex", "umls:rotate",
                                                      "kinships:rotate"], metavar="DATASET:MODEL")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="nations:complex, seed 0, 20 epochs")
    args = parser.parse_args()
    extra = ["--threads", str(args.threads)]
    runs, seeds = args.runs, args.seeds
    if args.quick:
        runs, seeds = ["nations:complex"], [0]
        extra += ["--set", "training.epochs=20"]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summary = {}
    for spec in runs:
        dataset, model = spec.split(":")
        results = [run_one(out, dataset, model, seed, extra) for seed in seeds]
        summary[spec] = aggregate(results)
        print(json.dumps({"run": spec, **summary[spec]}), flush=True)
    print(json.dumps({"summary": summary, "quick": args.quick}), flush=True)


if __name__ == "__main__":
    main()
