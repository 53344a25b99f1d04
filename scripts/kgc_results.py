"""Run `graphformers kgc train` over datasets x models x seeds and aggregate the metrics.

Each run goes to ``OUT/<dataset>-<model>-seed<k>``. An existing finished run (one
with ``metrics.json``) is reused when its ``config.yaml`` matches the requested
settings, so the script can be restarted; one with other settings (e.g. a
``--quick`` run) is an error unless ``--overwrite`` retrains it. The last
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

from graphformers.utils.io import strict_json_dumps


def _stored_config(run_dir: Path) -> dict | None:
    """The validated ``config.yaml`` of a finished run, or None when missing or unreadable."""
    import yaml

    from graphformers.kg.config import validate_config

    path = run_dir / "config.yaml"
    if not path.is_file():
        return None
    try:
        return validate_config(yaml.safe_load(path.read_text(encoding="utf-8")), source=str(path))
    except (ValueError, KeyError, TypeError, yaml.YAMLError, UnicodeDecodeError):
        return None


def _config_diff(stored: dict, wanted: dict, prefix: str = "") -> list[str]:
    """``key: stored -> wanted`` for each (nested) key whose value differs."""
    diffs = []
    for key in sorted(set(stored) | set(wanted)):
        a, b = stored.get(key), wanted.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            diffs += _config_diff(a, b, f"{prefix}{key}.")
        elif a != b:
            diffs.append(f"{prefix}{key}: {a!r} -> {b!r}")
    return diffs


def run_one(out: Path, dataset: str, model: str, seed: int, overrides: list[str], *,
            threads: int = 1, overwrite: bool = False) -> dict:
    """Train (or reuse) ``OUT/<dataset>-<model>-seed<seed>`` and return its ``metrics.json``.

    A finished run (one with ``metrics.json``) is reused only when its saved
    ``config.yaml`` equals the config these arguments resolve to (epochs, model,
    dataset, seed, ...).

    Args:
        out: Root folder of the runs.
        dataset: Dataset name passed to ``kgc train --dataset``.
        model: Model name passed to ``kgc train --model``.
        seed: Seed (``--set seed=...``).
        overrides: Further ``--set KEY=VALUE`` items.
        threads: ``kgc train --threads``.
        overwrite: Retrain a finished run whose config differs instead of refusing.

    Returns:
        The run's metrics.

    Raises:
        SystemExit: A finished run with other settings and no ``overwrite``, or a failed run.
    """
    from graphformers.cli import main as cli_main
    from graphformers.kg.config import resolve_config

    run_dir = out / f"{dataset}-{model}-seed{seed}"
    metrics = run_dir / "metrics.json"
    sets = [f"seed={seed}", *overrides]
    wanted = resolve_config(dataset=dataset, model=model, overrides=sets)
    if metrics.is_file():
        stored = _stored_config(run_dir)
        if stored == wanted:
            return json.loads(metrics.read_text())
        why = ("no readable config.yaml" if stored is None
               else "its config differs: " + "; ".join(_config_diff(stored, wanted)))
        if not overwrite:
            raise SystemExit(f"{run_dir} holds a finished run with other settings ({why}); "
                             "pass --overwrite to retrain it, or choose another --out")
        print(f"retraining {run_dir} ({why})", file=sys.stderr)
    args = ["kgc", "train", "--dataset", dataset, "--model", model, "--out", str(run_dir),
            "--no-progress", "--threads", str(threads)]
    for item in sets:
        args += ["--set", item]
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
    """Mean and std (over seeds) of the test metrics, realistic ties, both sides.

    The std is the sample std, None (JSON null) for a single seed.
    """
    out: dict = {"seeds": [r["seed"] for r in results]}
    for key in ("mrr", "hits@1", "hits@3", "hits@10"):
        vals = [r["test"]["realistic"]["both"][key] for r in results]
        out[key] = {"mean": statistics.fmean(vals), "std": statistics.stdev(vals) if len(vals) > 1 else None}
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
    parser.add_argument("--overwrite", action="store_true",
                        help="retrain finished runs whose saved config differs (default: refuse)")
    args = parser.parse_args()
    overrides: list[str] = []
    runs, seeds = args.runs, args.seeds
    if args.quick:
        runs, seeds = ["nations:complex"], [0]
        overrides.append("training.epochs=20")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summary = {}
    for spec in runs:
        dataset, model = spec.split(":")
        results = [run_one(out, dataset, model, seed, overrides, threads=args.threads, overwrite=args.overwrite)
                   for seed in seeds]
        summary[spec] = aggregate(results)
        print(strict_json_dumps({"run": spec, **summary[spec]}), flush=True)
    print(strict_json_dumps({"summary": summary, "quick": args.quick}), flush=True)


if __name__ == "__main__":
    main()
