"""Run configuration for KG completion: defaults, YAML files, ``key=value`` overrides.

A config is a nested dict; the defaults below list every key. Files under
``graphformers/configs/kgc/<dataset>-<model>.yaml`` hold tuned settings and are
picked up automatically by ``graphformers kgc train`` when present (looked up by
the canonical benchmark and model names, after every override).
:func:`validate_config` checks the type and range of every value, naming the key.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

DEFAULTS: dict[str, Any] = {
    "dataset": None,  # a benchmark name (see graphformers.datasets.kg), or a label for data_dir
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
    "evaluation": {"batch_size": 512, "every": 5, "patience": 5, "metric": "mrr"},  # metric: see EVAL_METRICS
}

#: Validation metrics early stopping can follow (keys of ``rank_metrics``).
EVAL_METRICS: tuple[str, ...] = ("mrr", "mr", "hits@1", "hits@3", "hits@10")
#: Metrics where a lower value is better.
LOWER_IS_BETTER: frozenset[str] = frozenset({"mr"})
#: Config keys whose value is a section (a mapping of keys).
SECTIONS: tuple[str, ...] = tuple(k for k, v in DEFAULTS.items() if isinstance(v, dict))

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs" / "kgc"


def merge(base: dict[str, Any], update: dict[str, Any], *, free: bool = False, path: str = "") -> dict[str, Any]:
    """Recursive dict merge of ``update`` into a copy of ``base``.

    Keys unknown to ``base`` raise :class:`KeyError` naming the dotted path,
    except inside ``model`` (free-form constructor arguments). A section (a
    mapping in ``base``, e.g. ``training``) replaced by a non-mapping raises
    :class:`ValueError` naming the key.
    """
    out = copy.deepcopy(base)
    for key, val in update.items():
        dotted = f"{path}{key}"
        if key not in out and not free:
            raise KeyError(f"unknown config key {dotted!r}; known here: {', '.join(out)}")
        if isinstance(out.get(key), dict) and not isinstance(val, dict):
            example = "model.name=rotate" if dotted == "model" else f"{dotted}.{next(iter(out[key]), 'key')}=..."
            raise ValueError(f"config key {dotted!r} is a section of keys, not a value (got {val!r}); "
                             f"set one of its keys instead, e.g. {example}")
        if isinstance(out.get(key), dict):
            out[key] = merge(out[key], val, free=free or dotted == "model", path=dotted + ".")
        else:
            out[key] = copy.deepcopy(val)
    return out


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML config file (a mapping).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is not valid YAML or not a mapping (the message names the file
            and, for syntax errors, the line).
    """
    import yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file {path} not found")
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh) or {}
    except yaml.YAMLError as err:
        raise ValueError(f"{path}: invalid YAML: {_one_line(err)}") from None
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a config must be a YAML mapping")
    return data


def _one_line(err: Exception) -> str:
    return " ".join(str(err).split())


def parse_overrides(items: Iterable[str]) -> dict[str, Any]:
    """``["training.lr=0.05", "model.hidden_channels=200"]`` -> nested dict (values parsed as YAML).

    Raises:
        ValueError: an item is not ``key=value``, its value is not valid YAML, or two
            items disagree about whether a key is a section (naming the item).
    """
    import yaml

    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--set {item!r}: expected key=value (e.g. training.lr=0.05)")
        key, raw = item.split("=", 1)
        parts = [p for p in key.strip().split(".") if p]
        if not parts:
            raise ValueError(f"--set {item!r}: empty key")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError as err:
            raise ValueError(f"--set {item!r}: the value is not valid YAML ({_one_line(err)})") from None
        node = out
        for depth, p in enumerate(parts[:-1]):
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ValueError(f"--set {item!r}: {'.'.join(parts[:depth + 1])} was set to a value by an "
                                 "earlier --set, so it cannot also hold keys")
        if isinstance(node.get(parts[-1]), dict) and not isinstance(value, dict):
            raise ValueError(f"--set {item!r}: {key.strip()} already holds keys from an earlier --set")
        node[parts[-1]] = value
    return out


def canonical_dataset(name: str | None) -> str | None:
    """The benchmark key of ``name`` (case and aliases such as ``kinship`` resolved), else ``None``."""
    if not isinstance(name, str) or not name:
        return None
    from graphformers.datasets.kg import DATASETS, dataset_spec

    try:
        spec = dataset_spec(name)
    except KeyError:
        return None
    return next(key for key, val in DATASETS.items() if val is spec)


def canonical_model(name: Any) -> str | None:
    """The registry key of model ``name`` (case-insensitive), else ``None``."""
    from graphformers.kg.registry import MODELS

    if not isinstance(name, str):
        return None
    return name.lower() if name.lower() in MODELS else None


def preset_path(dataset: str | None, model: str) -> Path | None:
    """The shipped config for ``(dataset, model)``, if there is one (names canonicalized)."""
    ds, mname = canonical_dataset(dataset), canonical_model(model)
    if ds is None or mname is None:
        return None
    cand = CONFIG_DIR / f"{ds}-{mname}.yaml"
    return cand if cand.is_file() else None


def _get(layer: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(layer, dict):
            return None
        layer = layer.get(key)
    return layer


def resolve_config(
    *,
    dataset: str | None = None,
    model: str | None = None,
    data_dir: str | Path | None = None,
    config_file: str | Path | None = None,
    overrides: Iterable[str] = (),
) -> dict[str, Any]:
    """Defaults <- shipped preset for (dataset, model) <- ``config_file`` <- ``--set`` overrides.

    ``dataset``, ``model`` and ``data_dir`` given on the command line win over the
    file; giving one of them also through ``--set`` with a different value is an
    error. The preset is chosen by the final dataset and model names (canonical:
    ``kinship`` -> ``kinships``, ``ComplEx`` -> ``complex``); no dataset named
    means no preset. ``data_dir`` is made absolute (relative to the current folder)
    so the run can be evaluated or resumed from anywhere.

    Returns:
        The validated config (see :func:`validate_config`).

    Raises:
        ValueError, KeyError: bad files, overrides or values; the message names the key.
    """
    cfg = copy.deepcopy(DEFAULTS)
    user = load_yaml(config_file) if config_file else {}
    sets = parse_overrides(overrides)
    same = {"dataset": lambda x: canonical_dataset(x) or str(x).lower(),
            "model.name": lambda x: canonical_model(x) or str(x).lower(),
            "data_dir": lambda x: Path(str(x)).expanduser().resolve()}
    for cli, key, value in (("--dataset", "dataset", dataset), ("--model", "model.name", model),
                            ("--data-dir", "data_dir", data_dir)):
        set_value = _get(sets, *key.split("."))
        if value is not None and set_value is not None and same[key](value) != same[key](set_value):
            raise ValueError(f"{cli} {value} and --set {key}={set_value} disagree; pass only one")
    ds = dataset or _get(sets, "dataset") or _get(user, "dataset") or cfg["dataset"]
    mname = model or _get(sets, "model", "name") or _get(user, "model", "name") or cfg["model"]["name"]
    preset = preset_path(ds, mname) if isinstance(mname, str) else None
    if preset is not None:
        cfg = merge(cfg, load_yaml(preset))
    if canonical_model(cfg["model"].get("name")) != canonical_model(mname):
        cfg["model"] = {"name": mname, "hidden_channels": cfg["model"].get("hidden_channels", 100)}
    cfg = merge(cfg, user)
    cfg = merge(cfg, sets)
    cfg["dataset"] = ds
    cfg["model"]["name"] = canonical_model(mname) or mname
    if data_dir is not None:
        cfg["data_dir"] = str(data_dir)
    if isinstance(cfg["data_dir"], str) and cfg["data_dir"]:
        cfg["data_dir"] = str(Path(cfg["data_dir"]).expanduser().resolve())
    cfg = validate_config(cfg)
    if cfg["dataset"] is None and cfg["data_dir"] is None:
        raise ValueError("no dataset: pass --dataset NAME (a benchmark, see `graphformers ls datasets`) "
                         "or --data-dir FOLDER")
    return cfg


# ------------------------------------------------------------- validation
class _Checker:
    """Reads values out of a config, raising :class:`ValueError` that names the key."""

    def __init__(self, cfg: dict[str, Any], source: str | None) -> None:
        self.cfg, self.prefix = cfg, f"{source}: " if source else ""

    def fail(self, key: str, expected: str, value: Any) -> None:
        raise ValueError(f"{self.prefix}{key} must be {expected}, got {value!r}")

    def section(self, key: str) -> dict[str, Any]:
        val = self.cfg.get(key)
        if key not in self.cfg:
            raise ValueError(f"{self.prefix}config key {key!r} is missing")
        if not isinstance(val, dict):
            self.fail(key, "a section of keys (a mapping)", val)
        return val

    def value(self, key: str) -> tuple[dict[str, Any], str, Any]:
        *parents, leaf = key.split(".")
        node = self.cfg
        for p in parents:
            node = node[p]
        if leaf not in node:
            raise ValueError(f"{self.prefix}config key {key!r} is missing")
        return node, leaf, node[leaf]

    def integer(self, key: str, minimum: int, maximum: int | None = None) -> None:
        _, _, val = self.value(key)
        ok = isinstance(val, int) and not isinstance(val, bool) and val >= minimum and \
            (maximum is None or val <= maximum)
        if not ok:
            what = {0: "a non-negative integer", 1: "a positive integer"}.get(minimum, f"an integer >= {minimum}")
            if maximum is not None:
                what = f"an integer in [{minimum}, {maximum}]"
            self.fail(key, what, val)

    def number(self, key: str, *, minimum: float = 0.0, positive: bool = False, below: float | None = None) -> None:
        node, leaf, val = self.value(key)
        num: float | None = None
        if isinstance(val, (int, float)) and not isinstance(val, bool):
            num = float(val)
        elif isinstance(val, str):  # YAML reads 1e-3 (no dot) as a string
            try:
                num = float(val)
            except ValueError:
                num = None
        ok = num is not None and math.isfinite(num) and num >= minimum and (not positive or num > 0) and \
            (below is None or num < below)
        if not ok:
            what = "a positive number" if positive else f"a number >= {minimum:g}"
            if below is not None:
                what = f"a number in [{minimum:g}, {below:g})"
            self.fail(key, what, val)
        node[leaf] = num

    def choice(self, key: str, choices: Iterable[str]) -> None:
        _, _, val = self.value(key)
        choices = list(choices)
        if val not in choices:
            self.fail(key, f"one of {', '.join(choices)}", val)

    def text(self, key: str, *, optional: bool) -> None:
        _, _, val = self.value(key)
        if val is None and optional:
            return
        if not isinstance(val, str) or not val.strip():
            self.fail(key, "a non-empty string" + (" or null" if optional else ""), val)


def validate_config(cfg: Any, *, source: str | None = None) -> dict[str, Any]:
    """Check every key of a resolved config: presence, type and range.

    Numbers written as strings that parse as floats (YAML reads ``1e-3`` as a
    string) are converted; ``model.name`` is lower-cased to its registry key.

    Args:
        cfg: the config (as from :func:`resolve_config` or a saved ``config.yaml``).
        source: a file name to prefix the messages with.

    Returns:
        A normalized copy of ``cfg``.

    Raises:
        ValueError: the first bad value, naming its dotted key, e.g.
            ``training.epochs must be a positive integer, got 'abc'``.
    """
    from graphformers.kg.registry import MODELS
    from graphformers.kg.training import LOSSES, OPTIMIZERS, REGULARIZERS
    from graphformers.kg.triples import UNSEEN_POLICIES

    if not isinstance(cfg, dict):
        raise ValueError(f"{source + ': ' if source else ''}a config must be a mapping, got {cfg!r}")
    cfg = copy.deepcopy(cfg)
    c = _Checker(cfg, source)
    for key in DEFAULTS:
        if key not in cfg:
            raise ValueError(f"{c.prefix}config key {key!r} is missing")
    for key in cfg:
        if key not in DEFAULTS:
            raise ValueError(f"{c.prefix}unknown config key {key!r}; known: {', '.join(DEFAULTS)}")
    for sec in SECTIONS:
        section = c.section(sec)
        if sec != "model":
            unknown = [k for k in section if k not in DEFAULTS[sec]]
            if unknown:
                raise ValueError(f"{c.prefix}unknown config key {sec}.{unknown[0]}; "
                                 f"known here: {', '.join(DEFAULTS[sec])}")
    c.text("dataset", optional=True)
    c.text("data_dir", optional=True)
    c.choice("unseen", UNSEEN_POLICIES)
    c.integer("seed", 0, 2**32 - 1)
    c.text("model.name", optional=False)
    if cfg["model"]["name"].lower() not in MODELS:
        c.fail("model.name", f"one of {', '.join(MODELS)}", cfg["model"]["name"])
    cfg["model"]["name"] = cfg["model"]["name"].lower()
    c.integer("model.hidden_channels", 1)
    c.choice("training.loss", LOSSES)
    c.integer("training.epochs", 1)
    c.integer("training.batch_size", 1)
    c.choice("training.optimizer", OPTIMIZERS)
    c.number("training.lr", positive=True)
    c.number("training.label_smoothing", below=1.0)
    c.integer("training.num_negatives", 1)
    c.number("training.adversarial_temperature")
    c.integer("training.num_threads", 0)
    c.choice("regularizer.name", REGULARIZERS)
    c.number("regularizer.weight")
    c.integer("evaluation.batch_size", 1)
    c.integer("evaluation.every", 1)
    c.integer("evaluation.patience", 1)
    c.choice("evaluation.metric", EVAL_METRICS)
    return cfg
