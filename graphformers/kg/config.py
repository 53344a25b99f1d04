"""Run configuration for KG completion: defaults, YAML files, ``key=value`` overrides.

A config is a nested dict; the defaults below list every key. Files under
``graphformers/configs/kgc/<dataset>-<model>.yaml`` hold tuned settings and are
picked up automatically by ``graphformers kgc train`` when present.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from pathlib import Path
from typing import Any

DEFAULTS: dict[str, Any] = {
    "dataset": "umls",
    "data_dir": None,
    "unseen": "keep",
    "seed": 0,
    "model": {"name": "complex", "hidden_channels": 100},
    "training": {
        "loss": "1vsall",  # or "negative_sampling"
        "epochs": 100,
        "batch_size": 256,
        "optimizer": "adagrad",  # adagrad | adam | sgd
        "lr": 0.1,
        "label_smoothing": 0.0,
        "num_negatives": 128,
        "adversarial_temperature": 1.0,
        "num_threads": 0,  # 0 = torch default
    },
    "regularizer": {"name": "n3", "weight": 0.0},  # n3 | l2 | none
    "evaluation": {"batch_size": 512, "every": 5, "patience": 5, "metric": "mrr"},
}

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs" / "kgc"


def merge(base: dict[str, Any], update: dict[str, Any], *, free: bool = False, path: str = "") -> dict[str, Any]:
    """Recursive dict merge of ``update`` into a copy of ``base``.

    Keys unknown to ``base`` raise :class:`KeyError` naming the dotted path,
    except inside ``model`` (free-form constructor arguments).
    """
    out = copy.deepcopy(base)
    for key, val in update.items():
        dotted = f"{path}{key}"
        if key not in out and not free:
            raise KeyError(f"unknown config key {dotted!r}; known here: {', '.join(out)}")
        if isinstance(out.get(key), dict) and isinstance(val, dict):
            out[key] = merge(out[key], val, free=free or dotted == "model", path=dotted + ".")
        else:
            out[key] = copy.deepcopy(val)
    return out


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML config file (a mapping)."""
    import yaml

    path = Path(path)
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a config must be a YAML mapping")
    return data


def parse_overrides(items: Iterable[str]) -> dict[str, Any]:
    """``["training.lr=0.05", "model.hidden_channels=200"]`` -> nested dict (values parsed as YAML)."""
    import yaml

    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--set {item!r}: expected key=value (e.g. training.lr=0.05)")
        key, raw = item.split("=", 1)
        parts = [p for p in key.strip().split(".") if p]
        if not parts:
            raise ValueError(f"--set {item!r}: empty key")
        node = out
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = yaml.safe_load(raw)
    return out


def preset_path(dataset: str, model: str) -> Path | None:
    """The shipped config for ``(dataset, model)``, if there is one."""
    cand = CONFIG_DIR / f"{dataset.lower()}-{model.lower()}.yaml"
    return cand if cand.is_file() else None


def resolve_config(
    *,
    dataset: str | None = None,
    model: str | None = None,
    config_file: str | Path | None = None,
    overrides: Iterable[str] = (),
) -> dict[str, Any]:
    """Defaults <- shipped preset for (dataset, model) <- ``config_file`` <- ``--set`` overrides.

    ``dataset`` and ``model`` given on the command line win over the file.
    """
    cfg = copy.deepcopy(DEFAULTS)
    user = load_yaml(config_file) if config_file else {}
    ds = dataset or user.get("dataset") or cfg["dataset"]
    user_model = user.get("model", {})
    mname = model or (user_model.get("name") if isinstance(user_model, dict) else None) or cfg["model"]["name"]
    preset = preset_path(ds, mname)
    if preset is not None:
        cfg = merge(cfg, load_yaml(preset))
    if model and cfg["model"].get("name") != model:
        cfg["model"] = {"name": model, "hidden_channels": cfg["model"].get("hidden_channels", 100)}
    cfg = merge(cfg, user)
    cfg = merge(cfg, parse_overrides(overrides))
    if dataset:
        cfg["dataset"] = dataset
    if model:
        cfg["model"]["name"] = model
    return cfg
