"""Aggregate per-seed results the way OGB's leaderboards ask: mean ± unbiased std, #params.

One JSON file per seed (``seed_<k>.json``, written by the leaderboard scripts) holds
at least ``seed``, ``valid`` and ``test`` (the metric at the best-validation epoch),
``params`` and ``seconds_per_epoch``. :func:`summarize` turns a list of them into one
summary dict and :func:`markdown_row` into a table row.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from torch import nn

from graphformers.utils.io import json_safe, strict_json_dumps, write_atomic

__all__ = ["mean_std", "count_parameters", "summarize", "markdown_row", "MARKDOWN_HEADER", "load_seed_results",
           "write_json"]

MARKDOWN_HEADER = (
    "| model | dataset | metric | test | valid | #params | seeds | s/epoch |\n"
    "|---|---|---|---|---|---|---|---|"
)


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and *unbiased* (``n - 1``) standard deviation; std is NaN for one value.

    Raises:
        ValueError: ``values`` is empty.
    """
    vals = [float(v) for v in values]
    if not vals:
        raise ValueError("mean_std of no values")
    mean = sum(vals) / len(vals)
    if len(vals) < 2:
        return mean, math.nan
    var = sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)
    return mean, math.sqrt(var)


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters, counting shared tensors once."""
    seen: set[int] = set()
    total = 0
    for p in model.parameters():
        if id(p) in seen or (trainable_only and not p.requires_grad):
            continue
        seen.add(id(p))
        total += p.numel()
    return total


def _metric(value: Any) -> float:
    """A seed's metric as a float; ``None`` (how strict JSON stores NaN) reads as NaN."""
    return math.nan if value is None else float(value)


def summarize(results: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Summary over seeds: ``test_mean``, ``test_std``, ``valid_mean``, ``valid_std``, ``params``, ...

    All results must share ``model``, ``dataset``, ``metric`` and ``params`` (one
    configuration); ``seeds`` lists the seeds found, sorted. An undefined value is
    ``None`` (``null`` in JSON): the std of a single seed, or a mean over a seed
    whose metric is missing or not finite. ``smoke`` is true when the results come
    from a driver's ``--smoke`` run.

    Raises:
        ValueError: no results, duplicated seeds, or mixed configurations.
    """
    results = list(results)
    if not results:
        raise ValueError("no seed results to summarize")
    seeds = [int(r["seed"]) for r in results]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"duplicated seeds in results: {sorted(seeds)}")
    for key in ("model", "dataset", "metric", "params"):
        values = {json.dumps(r.get(key), sort_keys=True) for r in results}
        if len(values) > 1:
            raise ValueError(f"results mix several values of {key!r}: {sorted(values)}")
    test_mean, test_std = mean_std([_metric(r["test"]) for r in results])
    valid_mean, valid_std = mean_std([_metric(r["valid"]) for r in results])
    spe = [r["seconds_per_epoch"] for r in results if r.get("seconds_per_epoch") is not None]
    first = results[0]
    return {
        "model": first.get("model"),
        "dataset": first.get("dataset"),
        "metric": first.get("metric"),
        "params": first.get("params"),
        "seeds": sorted(seeds),
        "num_seeds": len(seeds),
        "test_mean": json_safe(test_mean),
        "test_std": json_safe(test_std),
        "valid_mean": json_safe(valid_mean),
        "valid_std": json_safe(valid_std),
        "seconds_per_epoch": sum(spe) / len(spe) if spe else None,
        "versions": first.get("versions"),
        "smoke": any(bool(r.get("smoke")) for r in results),
    }


def _undefined(value: float | None) -> bool:
    return value is None or not math.isfinite(value)


def _pm(mean: float | None, std: float | None, scale: float) -> str:
    if _undefined(mean):
        return "n/a"
    if _undefined(std):
        return f"{mean * scale:.2f}"
    return f"{mean * scale:.2f} ± {std * scale:.2f}"


def markdown_row(summary: Mapping[str, Any], *, percent: bool | None = None) -> str:
    """One Markdown table row (columns of :data:`MARKDOWN_HEADER`).

    Args:
        summary: from :func:`summarize`.
        percent: print metric × 100 (default: for ``rocauc``, ``ap`` and ``acc``).
    """
    if percent is None:
        percent = summary.get("metric") in {"rocauc", "ap", "acc", "prcauc"}
    scale = 100.0 if percent else 1.0
    spe = summary.get("seconds_per_epoch")
    return (
        f"| {summary['model']} | {summary['dataset']} | {summary['metric']} | "
        f"{_pm(summary['test_mean'], summary['test_std'], scale)} | "
        f"{_pm(summary['valid_mean'], summary['valid_std'], scale)} | {summary['params']:,} | "
        f"{summary['num_seeds']} | {'' if spe is None else f'{spe:.1f}'} |"
    )


def load_seed_results(folder: str | Path) -> list[dict[str, Any]]:
    """Read every ``seed_*.json`` in ``folder`` (sorted by seed).

    Raises:
        FileNotFoundError: no seed files; ValueError: a file that is not valid JSON (named).
    """
    folder = Path(folder)
    files = sorted(folder.glob("seed_*.json"))
    if not files:
        raise FileNotFoundError(f"no seed_*.json files in {folder}")
    out = []
    for f in files:
        try:
            out.append(json.loads(f.read_text()))
        except json.JSONDecodeError as err:
            raise ValueError(f"{f}: not valid JSON: {err}") from err
    return sorted(out, key=lambda r: int(r["seed"]))


def write_json(path: str | Path, obj: Any) -> None:
    """Write strict JSON atomically (temporary file in the same folder, then ``os.replace``).

    NaN and ±inf are written as ``null`` (strict JSON has neither); the file's mode
    follows the umask like any other file the run writes.
    """
    write_atomic(path, strict_json_dumps(obj, indent=1) + "\n")
