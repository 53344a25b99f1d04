#!/usr/bin/env python
"""OGB graph-property leaderboard driver: one script for every ``ogbg-*`` config.

Follows OGB's experimental protocol: the official :class:`ogb.graphproppred.Evaluator`,
model selection on the validation split only (the test metric is logged every epoch
and *reported at the best-validation epoch*), fixed seeds (``--seeds 0-9``), mean ±
unbiased std over seeds and the parameter count. Writes::

    <out>/config.json       # the run's merged config, written before the first seed trains
    <out>/seed_<k>.json     # config, params, best epoch, valid/test there, curve, s/epoch
    <out>/summary.json      # mean ± std over the seeds found in <out> (null std for one seed)
    <out>/row.md            # a Markdown table row (graphformers.evaluation.aggregate)

A folder that holds results is refused unless ``--overwrite`` (its results are
replaced: the old summary and seed files are removed before the first new seed
trains) or ``--resume`` (the run continues a killed one: the config must equal the
recorded one, seeds whose ``seed_<k>.json`` exists are skipped, and the summary is
rewritten over every seed in the folder).

Per-dataset differences (dataset name, evaluator, epochs, batch size, lr) live in
``scripts/configs/ogb/<dataset>.yaml``; the model comes from a model config
(``--model``, a packaged name such as ``molecules_gine_transformer_rwse`` or a path);
``--set key=value`` overrides either; the merged config is checked (known keys,
types, a model that builds, a supported dataset) before any data is loaded. Example::

    python scripts/ogb_graphprop.py --config scripts/configs/ogb/molbbbp.yaml \\
        --model molecules_gine --seeds 0-4 --out results/ogb/gine_molbbbp

``--smoke`` runs two seeds of a one-layer model for two epochs on a 40-molecule
dataset built in a temporary folder (seconds, no data needed); its results are
labelled ``<dataset> (smoke)``, carry ``"smoke": true`` and go by default to
``results/ogb/smoke_<model>_<dataset>``, never to the real run's folder.
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

from graphformers.cli.args import add_results_folder_options, seed_list
from graphformers.evaluation.aggregate import (
    count_parameters,
    load_seed_results,
    markdown_row,
    summarize,
    write_json,
)
from graphformers.utils.io import output_dir_problem, strict_json_dumps, write_atomic

CONFIG_DIR = Path(__file__).resolve().parent / "configs" / "ogb"
HIGHER_IS_BETTER = {"rocauc": True, "ap": True, "acc": True, "f1": True, "rmse": False, "mae": False}
#: OGB task types this driver trains (BCE on one logit per task, or MSE); ``ogbg-ppa``
#: (multiclass) and ``ogbg-code2`` (subtoken prediction, F1) need other heads and losses.
SUPPORTED_TASK_TYPES = ("binary classification", "regression")
#: Keys of the merged config and of its ``train`` section, with the type each value must have.
CONFIG_KEYS = ("dataset", "evaluator", "train", "model", "model_name")
TRAIN_KEYS = {"epochs": "positive int", "batch_size": "positive int", "lr": "positive number",
              "weight_decay": "non-negative number", "subset": "positive int or null"}
MODEL_SCALARS = {"channels": "positive int", "num_layers": "positive int", "heads": "positive int",
                 "dropout": "number in [0, 1]", "virtual_node": "true or false"}
#: Written before the first seed trains; ``--resume`` compares the config with it.
CONFIG_FILE = "config.json"


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _load_yaml(path: str | Path) -> dict[str, Any]:
    """A dataset config: a YAML path, or a bare name of ``scripts/configs/ogb/<name>.yaml``.

    A value with a folder part or a ``.yaml`` / ``.yml`` suffix is a path and must
    exist (it is never replaced by a packaged config of the same name).

    Raises:
        FileNotFoundError: naming the path or the unknown name.
        ValueError: the file is not YAML or not a mapping (file named).
    """
    text = str(path)
    if "/" in text or "\\" in text or text.endswith((".yaml", ".yml")):
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"config file {text!r} not found (a bare name such as 'molbbbp' selects "
                                    f"{CONFIG_DIR}/<name>.yaml)")
    else:
        p = CONFIG_DIR / f"{text}.yaml"
        if not p.is_file():
            names = sorted(c.stem for c in CONFIG_DIR.glob("*.yaml"))
            raise FileNotFoundError(f"config {text!r} not found: not a dataset config name ({names}); give a path "
                                    "with a folder or a .yaml suffix for your own file")
    try:
        with open(p) as fh:
            cfg = yaml.safe_load(fh)
    except yaml.YAMLError as err:
        raise ValueError(f"{p}: not valid YAML: {err}") from err
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
    overrides = cfg.pop("model_overrides", None) or {}
    if not isinstance(overrides, dict):
        raise ValueError(f"{args.config}: model_overrides must be a mapping, got {overrides!r}")
    model_cfg = load_config(args.model)
    model = {**model_cfg["model"], **overrides}  # per-dataset budget (width, depth)
    cfg = {**cfg, "model": model, "model_name": args.name or Path(args.model).stem}
    return apply_overrides(cfg, args.set or [])


# --- config checks (before any data is loaded) ----------------------------------------------------


def _number(value: Any) -> float | None:
    """``value`` as a float when it is a number (YAML reads ``1e-3`` as a string), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


_CHECKS = {
    "positive int": _positive_int,
    "positive int or null": lambda v: v is None or _positive_int(v),
    "positive number": lambda v: (x := _number(v)) is not None and math.isfinite(x) and x > 0,
    "non-negative number": lambda v: (x := _number(v)) is not None and math.isfinite(x) and x >= 0,
    "number in [0, 1]": lambda v: (x := _number(v)) is not None and 0.0 <= x <= 1.0,
    "true or false": lambda v: isinstance(v, bool),
}


def check_config(cfg: dict[str, Any], *, config_keys: tuple[str, ...] = CONFIG_KEYS,
                 train_keys: dict[str, str] | None = None) -> None:
    """Check the merged config's keys and value types, and that its model builds.

    Runs before any data is loaded, so a typo in ``--set`` (``train.epoch=5``), a value
    of the wrong type (``train.epochs=abc``, ``model.channels=abc``, ``train=5``) or
    ``epochs <= 0`` is reported at once, naming the key.

    Args:
        cfg: the merged config.
        config_keys: the allowed top-level keys.
        train_keys: the allowed ``train`` keys and the type of each (default :data:`TRAIN_KEYS`).

    Raises:
        ValueError: naming the offending key.
    """
    from graphformers.models.factory import build_model, build_transforms

    train_keys = TRAIN_KEYS if train_keys is None else train_keys
    unknown = [k for k in cfg if k not in config_keys]
    if unknown:
        raise ValueError(f"config: unknown key(s) {unknown}; known keys are {list(config_keys)}")
    if not isinstance(cfg.get("dataset"), str):
        raise ValueError(f"config: 'dataset' must be a dataset name, got {cfg.get('dataset')!r}")
    train = cfg.get("train")
    if not isinstance(train, dict):
        raise ValueError(f"config: 'train' must be a mapping of {sorted(train_keys)}, got {train!r}")
    unknown = [k for k in train if k not in train_keys]
    if unknown:
        raise ValueError(f"config: unknown key(s) {['train.' + str(k) for k in unknown]}; "
                         f"known train keys are {sorted(train_keys)}")
    if "epochs" not in train:
        raise ValueError("config: train.epochs is required")
    for key, value in train.items():
        if not _CHECKS[train_keys[key]](value):
            raise ValueError(f"config: train.{key} must be a {train_keys[key]}, got {value!r}")
    model = cfg.get("model")
    if not isinstance(model, dict):
        raise ValueError(f"config: 'model' must be a mapping, got {model!r}")
    for key, kind in MODEL_SCALARS.items():
        if key in model and not _CHECKS[kind](model[key]):
            raise ValueError(f"config: model.{key} must be a {kind}, got {model[key]!r}")
    try:  # the rest of the model section: build it once (cheap) with a placeholder output width
        build_transforms(cfg)
        build_model(cfg, out_channels=1)
    except (ValueError, TypeError, KeyError, AttributeError) as err:
        raise ValueError(f"config: the model section does not build: {type(err).__name__}: {err}") from err


def check_dataset(cfg: dict[str, Any]) -> None:
    """Refuse datasets this driver cannot train or score before loading them.

    ``ogbg-*`` names must be binary classification or regression in OGB's
    ``master.csv`` (not ``ogbg-ppa``, multiclass, nor ``ogbg-code2``, F1 over
    subtokens); ``peptides-func`` needs an ``evaluator`` naming such a dataset.

    Raises:
        ValueError: naming the dataset (or evaluator) and why.
    """
    from graphformers.datasets.ogb import ogb_meta

    name = cfg["dataset"]
    evaluator = cfg.get("evaluator", name)
    if not (name.startswith("ogbg-") or name == "peptides-func"):
        raise ValueError(f"dataset {name!r}: expected an ogbg-* name or peptides-func")
    if not isinstance(evaluator, str) or not evaluator.startswith("ogbg-"):
        raise ValueError(f"dataset {name!r}: 'evaluator' must name an ogbg-* dataset whose official "
                         f"Evaluator scores it, got {evaluator!r}")
    for what, key in (("dataset", name), ("evaluator", evaluator)):
        if key == "peptides-func":
            continue
        meta = ogb_meta(key)
        if meta["task type"] not in SUPPORTED_TASK_TYPES or meta["eval metric"] not in HIGHER_IS_BETTER:
            raise ValueError(f"{what} {key!r} is not supported by this driver: its task type is "
                             f"{meta['task type']!r} (metric {meta['eval metric']!r}); it trains "
                             f"{' and '.join(SUPPORTED_TASK_TYPES)} tasks only")


# --- data ---------------------------------------------------------------------------------------

SMOKE_RINGS = ["c1ccccc1", "c1ccncc1", "C1CCCCC1", "c1ccoc1", "c1ccsc1", "C1CCNCC1", "C1CCOC1", "c1ccc2ccccc2c1"]
SMOKE_SUBSTITUENTS = ["C", "O", "N", "Cl", "CC"]


#: the dataset a ``--smoke`` run trains on (whatever ``--config`` names), and records
SMOKE_DATASET = "ogbg-molbace"


def smoke_dataset(root: Path) -> tuple[str, Path]:
    """A 40-molecule ``ogbg-molbace``-shaped folder (8 scaffolds × 5 substituents, labels alternate)."""
    from graphformers.datasets.ogb_mol import build_mol_dataset

    csv_path = root / "smoke.csv"
    lines = ["mol,Class"]
    for ring in SMOKE_RINGS:
        for k, sub in enumerate(SMOKE_SUBSTITUENTS):
            lines.append(f"{sub}{ring},{k % 2}")
    csv_path.write_text("\n".join(lines) + "\n")
    build_mol_dataset(SMOKE_DATASET, root, csv_path, progress=False)
    return SMOKE_DATASET, root


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


def pe_cache_file(cache: Path, cfg: dict[str, Any], transform: Any) -> Path:
    """The PE/SE cache file for ``transform`` on the config's graphs.

    The name holds the dataset, ``train.subset`` (when set: the graph list differs)
    and the transform's ``repr``, so runs on different subsets keep their own files
    instead of recomputing and replacing one another's.
    """
    subset = cfg["train"].get("subset")
    part = "" if subset is None else f"_train{int(subset)}"
    return cache / f"{cfg['dataset']}{part}_{transform!r}.pt"


def precompute_transforms(cfg: dict[str, Any], graphs: list, cache: Path | None) -> list:
    """Positional/structural encodings the model config needs, computed once for all seeds."""
    from graphformers.models.factory import build_transforms
    from graphformers.transforms.cache import precompute

    for transform in build_transforms(cfg):
        path = None if cache is None else pe_cache_file(cache, cfg, transform)
        graphs = precompute(graphs, transform, path) if path is not None else [transform(g) for g in graphs]
    return graphs


# --- results folder -------------------------------------------------------------------------------


def default_out(cfg: dict[str, Any], *, smoke: bool = False) -> Path:
    """``results/ogb/<model>_<dataset>``; ``results/ogb/smoke_<model>_<dataset>`` for a smoke run."""
    return Path("results") / "ogb" / f"{'smoke_' if smoke else ''}{cfg['model_name']}_{cfg['dataset']}"


def _plain(obj: Any) -> Any:
    """``obj`` as it reads back from a results file (strict JSON), for comparisons."""
    return json.loads(strict_json_dumps(obj))


def _differences(recorded: Any, current: Any, prefix: str = "") -> list[str]:
    """Dotted keys where two configs differ, as ``key: recorded -> current`` lines."""
    if isinstance(recorded, dict) and isinstance(current, dict):
        out = []
        for key in sorted(set(recorded) | set(current), key=str):
            where = f"{prefix}.{key}" if prefix else str(key)
            if key not in recorded:
                out.append(f"{where}: (absent) -> {current[key]!r}")
            elif key not in current:
                out.append(f"{where}: {recorded[key]!r} -> (absent)")
            else:
                out += _differences(recorded[key], current[key], where)
        return out
    return [] if recorded == current else [f"{prefix or 'config'}: {recorded!r} -> {current!r}"]


def recorded_runs(out: Path) -> list[tuple[Path, dict[str, Any]]]:
    """``(file, {"config", "smoke"})`` for ``config.json`` and every ``seed_*.json`` in ``out``.

    Raises:
        ValueError: a file that is not valid JSON or lacks its config (file named).
    """
    found = []
    for path in [out / CONFIG_FILE, *sorted(out.glob("seed_*.json"))]:
        if not path.is_file():
            continue
        try:
            record = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ValueError(f"{path}: not valid JSON ({err})") from err
        if not isinstance(record, dict) or not isinstance(record.get("config"), dict):
            raise ValueError(f"{path}: holds no 'config' mapping")
        found.append((path, {"config": record["config"], "smoke": bool(record.get("smoke", False))}))
    return found


def output_folder(out: Path | None, cfg: dict[str, Any], overwrite: bool, *, resume: bool = False,
                  smoke: bool = False) -> Path | None:
    """The results folder (default :func:`default_out`), or None after printing why it cannot be used.

    A folder holding files needs ``overwrite`` (its results are replaced) or ``resume``
    (its recorded config, in ``config.json`` and the seed files, must equal ``cfg``).
    Nothing is changed here: see :func:`begin_results`.
    """
    out = out or default_out(cfg, smoke=smoke)
    problem = output_dir_problem(out, overwrite=overwrite or resume, label="results folder",
                                 hint="pass --resume to run its missing seeds with the same config, "
                                      "or --overwrite to replace its results")
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        return None
    if not out.exists() or not any(out.iterdir()) or overwrite:
        return out
    try:
        runs = recorded_runs(out)
    except ValueError as err:
        print(f"error: --resume: {err}", file=sys.stderr)
        return None
    if not runs:
        print(f"error: --resume: {out} holds no {CONFIG_FILE} or seed_*.json, so there is no run to resume; "
              "choose another --out or pass --overwrite", file=sys.stderr)
        return None
    current = _plain(cfg)
    for path, recorded in runs:
        diff = _differences(_plain(recorded["config"]), current)
        if recorded["smoke"] != smoke:
            diff.append(f"smoke run: {recorded['smoke']} -> {smoke}")
        if diff:
            print(f"error: --resume: the config differs from the one recorded in {path} "
                  f"(recorded -> now): {'; '.join(diff)}; use the same config, another --out, or --overwrite",
                  file=sys.stderr)
            return None
    return out


def pending_seeds(out: Path, seeds: list[int], *, resume: bool) -> list[int]:
    """The seeds to train: all of them, or with ``resume`` those without a ``seed_<k>.json`` in ``out``."""
    if not resume:
        return list(seeds)
    return [seed for seed in seeds if not (out / f"seed_{seed}.json").exists()]


def begin_results(out: Path, cfg: dict[str, Any], *, resume: bool, smoke: bool = False) -> None:
    """Make ``out`` ready for new seed files, just before the first seed trains.

    Removes ``summary.json`` and ``row.md`` (they would be stale next to new seeds,
    also when the run is killed), without ``resume`` also the old ``seed_*.json``,
    then writes ``config.json``.
    """
    out.mkdir(parents=True, exist_ok=True)
    for name in ("summary.json", "row.md"):
        (out / name).unlink(missing_ok=True)
    if not resume:
        for stale in out.glob("seed_*.json"):
            stale.unlink()
    write_json(out / CONFIG_FILE, {"config": cfg, "smoke": smoke})


def mark_smoke(record: dict[str, Any]) -> dict[str, Any]:
    """Label a smoke run's record: ``dataset`` becomes ``"<name> (smoke)"`` and ``smoke`` true."""
    record["dataset"] = f"{record['dataset']} (smoke)"
    record["smoke"] = True
    return record


def save_seed(out: Path, record: dict[str, Any]) -> None:
    """Write ``seed_<k>.json`` atomically (strict JSON) and echo a line."""
    write_json(out / f"seed_{record['seed']}.json", record)
    print(strict_json_dumps({k: record.get(k) for k in ("model", "dataset", "seed", "valid", "test", "best_epoch",
                                                        "seconds_per_epoch", "params")}), flush=True)


def write_summary(out: Path) -> tuple[str, list[dict[str, Any]]]:
    """``summary.json`` and ``row.md`` over every seed file in ``out`` (mean ± unbiased std).

    Returns:
        The Markdown row and the seed records it summarizes.
    """
    results = load_seed_results(out)
    summary = summarize(results)
    write_json(out / "summary.json", summary)
    row = markdown_row(summary)
    write_atomic(out / "row.md", row + "\n")
    print(row)
    return row, results


def exit_code(results: list[dict[str, Any]]) -> int:
    """0 when every seed's test metric is a finite number, else 1 with a message naming the seeds
    (``null`` in a seed file is how strict JSON stores a metric that was not finite)."""
    bad = [r["seed"] for r in results if r.get("test") is None or not math.isfinite(r["test"])]
    if bad:
        print(f"error: seeds {bad} have no finite test metric (training diverged?); see their seed_<k>.json",
              file=sys.stderr)
        return 1
    return 0


# --- main ---------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", help="dataset config (scripts/configs/ogb/<name>.yaml or its name)")
    p.add_argument("--model", help="model config: packaged name (e.g. molecules_gine) or YAML path")
    p.add_argument("--name", help="model label in results (default: the model config's name)")
    p.add_argument("--seeds", type=seed_list, default=None, help="e.g. 0-9 (default; --smoke: 0,1) or 0,1,2")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override, e.g. train.epochs=30")
    p.add_argument("--out", type=Path, help="results folder (default results/ogb/<model>_<dataset>; "
                   "--smoke: results/ogb/smoke_<model>_<dataset>)")
    p.add_argument("--root", type=Path, help="OGB dataset root (default: cache_root()/ogb)")
    add_results_folder_options(p)
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
        if args.smoke and isinstance(cfg.get("model"), dict):
            # shrink what the config sizes; a PE without its own width (the Graph Transformer's,
            # added to the input) is as wide as the shrunk model
            for pe in cfg["model"].get("pe", []) or []:
                for key, small in (("walk_length", 4), ("channels", 4)):
                    if isinstance(pe, dict) and key in pe:
                        pe[key] = small
        check_config(cfg)
        check_dataset(cfg)
        if args.smoke:  # named before the folder and the recorded config: --resume compares like with like
            cfg["dataset"] = SMOKE_DATASET
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out = output_folder(args.out, cfg, args.overwrite, resume=args.resume, smoke=args.smoke)
    if out is None:
        return 2
    seeds = pending_seeds(out, args.seeds, resume=args.resume)
    if len(seeds) < len(args.seeds):
        done = [s for s in args.seeds if s not in seeds]
        print(f"--resume: seeds {done} already in {out}; running {seeds}", file=sys.stderr)
    if seeds:
        with tempfile.TemporaryDirectory() as tmp:
            root = args.root
            try:
                if args.smoke:
                    _, root = smoke_dataset(Path(tmp))
                graphs, split, num_tasks, task_type = load_dataset(cfg, root)
            except (FileNotFoundError, ValueError) as err:
                print(f"error: {err}", file=sys.stderr)
                return 2
            graphs, split = restrict_train(graphs, split, cfg["train"].get("subset"))
            t0 = time.perf_counter()
            graphs = precompute_transforms(cfg, graphs, None if args.smoke else _cache_dir())
            pe_seconds = time.perf_counter() - t0
            begin_results(out, cfg, resume=args.resume, smoke=args.smoke)
            for seed in seeds:
                record = run_seed(copy.deepcopy(cfg), graphs, split, num_tasks, task_type, seed,
                                  progress=not args.no_progress)
                record["pe_seconds"] = pe_seconds
                save_seed(out, mark_smoke(record) if args.smoke else record)
    _, results = write_summary(out)
    return exit_code(results)


def _cache_dir() -> Path:
    from graphformers.settings import cache_root

    return cache_root() / "transforms"


if __name__ == "__main__":
    sys.exit(main())
