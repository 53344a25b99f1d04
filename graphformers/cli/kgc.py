"""``graphformers kgc``: train, evaluate and query knowledge-graph completion models.

Examples::

    graphformers kgc train --dataset umls --model complex --out runs/umls-complex
    graphformers kgc train --dataset wn18rr --model complex --set training.epochs=50 --out runs/wn
    graphformers kgc train --resume runs/wn            # continue a killed run
    graphformers kgc evaluate runs/umls-complex --json
    graphformers kgc predict runs/umls-complex --head acquired_abnormality --relation location_of --top-k 5
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def add_parser(subparsers: Any) -> None:
    """Mount ``kgc`` with its ``train`` / ``evaluate`` / ``predict`` subcommands."""
    parser = subparsers.add_parser("kgc", help="knowledge-graph completion (train / evaluate / predict)",
                                   description="Knowledge-graph completion with filtered rank evaluation.")
    sub = parser.add_subparsers(dest="kgc_command", metavar="ACTION")
    parser.set_defaults(func=lambda args: (parser.print_help(sys.stderr), 2)[1])

    train = sub.add_parser("train", help="train a scorer; writes config, checkpoints and metrics to --out")
    train.add_argument("--dataset", help="benchmark name (see `graphformers ls datasets`) or a label for --data-dir")
    train.add_argument("--model", help="scorer name (see `graphformers ls models`)")
    train.add_argument("--config", help="YAML config file (keys as in graphformers/configs/kgc/*.yaml)")
    train.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="override a config key, e.g. --set training.lr=0.05 (repeatable)")
    train.add_argument("--data-dir", help="folder with train/valid/test TSV files (plain or .gz)")
    train.add_argument("--out", help="output folder (must be new or empty unless --overwrite)")
    train.add_argument("--overwrite", action="store_true", help="reuse a non-empty --out folder")
    train.add_argument("--resume", metavar="DIR", help="continue the run in DIR from its last checkpoint")
    _common(train)
    train.set_defaults(func=cmd_train)

    evaluate = sub.add_parser("evaluate", help="filtered MRR / Hits@k of a trained run")
    evaluate.add_argument("run_dir", help="output folder of `kgc train`")
    evaluate.add_argument("--split", default="test", choices=("train", "valid", "test"))
    evaluate.add_argument("--checkpoint", choices=("best", "last"), default="best")
    evaluate.add_argument("--data-dir", help="read the triples from here instead of the run's dataset")
    _common(evaluate)
    evaluate.set_defaults(func=cmd_evaluate)

    predict = sub.add_parser("predict", help="top-k answers of a query (h, r, ?) or (?, r, t)")
    predict.add_argument("run_dir", help="output folder of `kgc train`")
    side = predict.add_mutually_exclusive_group(required=True)
    side.add_argument("--head", help="head entity name: predict tails")
    side.add_argument("--tail", help="tail entity name: predict heads")
    predict.add_argument("--relation", required=True, help="relation name")
    predict.add_argument("--top-k", type=int, default=10)
    predict.add_argument("--checkpoint", choices=("best", "last"), default="best")
    _common(predict)
    predict.set_defaults(func=cmd_predict)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable JSON on stdout")
    p.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def _setup_torch(args: argparse.Namespace, cfg_threads: int = 0) -> None:
    import torch

    if args.threads < 0:
        raise ValueError(f"--threads must be 0 (torch default) or positive, got {args.threads}")
    threads = args.threads or cfg_threads
    if threads:
        torch.set_num_threads(threads)


def _device(name: str):
    """``--device NAME`` as a :class:`torch.device`; a clear error for a bad or absent device."""
    import torch

    try:
        device = torch.device(name)
    except (RuntimeError, ValueError) as err:
        raise ValueError(f"--device {name!r} is not a torch device ({err}); use e.g. cpu, cuda or cuda:1") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"--device {name}: CUDA is not available here (torch {torch.__version__}); "
                             "use --device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"--device {name}: only {torch.cuda.device_count()} CUDA device(s) here")
    return device


def _seed_everything(seed: int) -> None:
    import random

    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _load_kg(cfg: dict[str, Any], data_dir: str | None = None):
    from graphformers.datasets.kg import load_kg_dataset

    try:
        return load_kg_dataset(cfg["dataset"], data_dir=data_dir or cfg.get("data_dir"), unseen=cfg["unseen"])
    except RuntimeError as err:  # download failure
        raise FileNotFoundError(str(err)) from None


def _model_kwargs(cfg: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in cfg["model"].items() if k != "name"}


def _read_config(run: Path) -> dict[str, Any]:
    """The validated ``config.yaml`` of a run; errors name the file."""
    import yaml

    from graphformers.kg.config import validate_config

    path = _run_file(run, "config.yaml")
    try:
        cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not a readable YAML config ({' '.join(str(err).split())})") from None
    return validate_config(cfg, source=str(path))


def _run_file(run: Path, name: str) -> Path:
    """``run / name``, which a `kgc train` run folder must hold."""
    path = run / name
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: {run} is not a `kgc train` run")
    return path


def _read_vocab(run: Path) -> dict[str, list[str]]:
    path = _run_file(run, "vocab.json")
    try:
        vocab = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(vocab, dict) or not all(isinstance(vocab.get(k), list) for k in ("entities", "relations")):
        raise ValueError(f"{path}: expected {{\"entities\": [...], \"relations\": [...]}}")
    return vocab


def _check_vocab(kg: Any, vocab: dict[str, list[str]], run: Path) -> None:
    """The triples must give the ids the run was trained with (same names, same order)."""
    for what, names in (("entities", kg.entities), ("relations", kg.relations)):
        saved = vocab[what]
        if names == saved:
            continue
        if len(names) != len(saved):
            detail = f"{len(names)} {what} in the data, {len(saved)} in vocab.json"
        else:
            i = next(i for i, (a, b) in enumerate(zip(names, saved)) if a != b)
            detail = f"{what} id {i} is {names[i]!r} in the data, {saved[i]!r} in vocab.json"
        raise ValueError(f"the triples of {kg.name} do not match {run / 'vocab.json'} ({detail}): a different "
                         "dataset, or files changed or reordered since training")


def cmd_train(args: argparse.Namespace) -> int:
    """``kgc train``: resolve and check the config and data, then prepare --out, train, print test metrics.

    Nothing is written before the config, the data and the model have been checked.
    ``--resume DIR`` continues from ``DIR/checkpoint.pt``, or starts again at epoch 0
    when the run stopped before its first checkpoint.
    """
    import yaml

    from graphformers.kg.config import resolve_config
    from graphformers.kg.registry import build_model
    from graphformers.kg.training import KGCTrainer, atomic_write_text, check_output_dir, prepare_output_dir

    device = _device(args.device)
    if args.resume:
        if args.out and Path(args.out).resolve() != Path(args.resume).resolve():
            raise ValueError("--resume DIR continues in DIR; do not pass a different --out")
        given = [f for f in ("dataset", "model", "config", "data_dir") if getattr(args, f)] + \
            (["--set"] if args.overrides else [])
        if given:
            raise ValueError(f"--resume uses the run's saved config; drop {', '.join(given)}")
        out = Path(args.resume)
        cfg = _read_config(out)
    else:
        if not args.out:
            raise ValueError("--out DIR is required (or --resume DIR)")
        cfg = resolve_config(dataset=args.dataset, model=args.model, data_dir=args.data_dir,
                             config_file=args.config, overrides=args.overrides)
        out = Path(args.out)
        check_output_dir(out, overwrite=args.overwrite)
    _setup_torch(args, cfg["training"]["num_threads"])
    kg = _load_kg(cfg)
    write_vocab = not args.resume
    if args.resume:
        if (out / "vocab.json").is_file() or (out / "checkpoint.pt").is_file():
            _check_vocab(kg, _read_vocab(out), out)
        else:  # stopped between config.yaml and vocab.json: nothing trained yet
            write_vocab = True
    _seed_everything(cfg["seed"])
    model = build_model(cfg["model"]["name"], kg.num_nodes, 2 * kg.num_relations, **_model_kwargs(cfg))
    model = model.to(device)
    trainer = KGCTrainer(model, kg, cfg, out, progress=not args.no_progress)  # checks; writes nothing
    if args.resume:
        trainer.resume()
    else:
        out = prepare_output_dir(out, overwrite=args.overwrite)
        atomic_write_text(out / "config.yaml", yaml.safe_dump(trainer.cfg, sort_keys=False))
    if write_vocab:
        atomic_write_text(out / "vocab.json", json.dumps({"entities": kg.entities, "relations": kg.relations}))
    print(f"{kg!r}; {model!r}; {sum(p.numel() for p in model.parameters()):,} parameters; out={out}",
          file=sys.stderr)
    result = trainer.fit()
    _emit(result, args.json, f"{kg.name} {cfg['model']['name']}")
    return 0


def _load_run(run_dir: str, checkpoint: str, device: Any):
    from graphformers.kg.registry import build_model
    from graphformers.utils.io import load_weights

    run = Path(run_dir)
    cfg = _read_config(run)
    vocab = _read_vocab(run)
    model = build_model(cfg["model"]["name"], len(vocab["entities"]), 2 * len(vocab["relations"]),
                        **_model_kwargs(cfg))
    path = run / ("best.pt" if checkpoint == "best" else "checkpoint.pt")
    if checkpoint == "best" and not path.is_file():
        path = run / "checkpoint.pt"
    if not path.is_file():
        raise FileNotFoundError(f"{run}: no best.pt or checkpoint.pt (did training start?)")
    state = load_weights(path)
    model.load_state_dict(state["model"] if "optimizer" in state else state)
    return cfg, vocab, model.to(device).eval()


def cmd_evaluate(args: argparse.Namespace) -> int:
    """``kgc evaluate``: filtered metrics of a saved run on one split."""
    from graphformers.evaluation.ranking import FilterIndex
    from graphformers.kg.evaluate import evaluate_link_prediction

    device = _device(args.device)
    _setup_torch(args)
    cfg, vocab, model = _load_run(args.run_dir, args.checkpoint, device)
    kg = _load_kg(cfg, args.data_dir)
    _check_vocab(kg, vocab, Path(args.run_dir))
    if kg.split(args.split).size(0) == 0:
        raise ValueError(f"the {args.split} split of {kg.name} has no triples; nothing to evaluate")
    fi = FilterIndex(kg.all_triples(), kg.num_nodes, kg.num_relations)
    acc = evaluate_link_prediction(model, kg.split(args.split), fi, num_relations=kg.num_relations,
                                   batch_size=cfg["evaluation"]["batch_size"],
                                   progress=not args.no_progress)
    result = {"dataset": kg.name, "model": cfg["model"]["name"], "split": args.split, **{args.split: acc.to_dict()}}
    _emit(result, args.json, f"{kg.name} {cfg['model']['name']}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    """``kgc predict``: rank all entities for ``(head, relation, ?)`` or ``(?, relation, tail)``."""
    import torch

    from graphformers.kg.training import json_text
    from graphformers.kg.triples import lookup_name

    if args.top_k < 1:
        raise ValueError("--top-k must be at least 1")
    device = _device(args.device)
    _setup_torch(args)
    cfg, vocab, model = _load_run(args.run_dir, args.checkpoint, device)
    ent_index = {e: i for i, e in enumerate(vocab["entities"])}
    rel_index = {r: i for i, r in enumerate(vocab["relations"])}
    entity = args.head if args.head is not None else args.tail
    e = lookup_name(ent_index, entity, "entity")
    r = lookup_name(rel_index, args.relation, "relation")
    if args.tail is not None:
        r += len(vocab["relations"])  # heads via the reciprocal relation
    with torch.no_grad():
        scores = model.score_all_tails(torch.tensor([e], device=device), torch.tensor([r], device=device))[0]
    k = min(args.top_k, scores.numel())
    top = scores.topk(k)
    rows = [{"rank": i + 1, "entity": vocab["entities"][j], "score": float(s)}
            for i, (s, j) in enumerate(zip(top.values.tolist(), top.indices.tolist()))]
    query = {"head": args.head, "relation": args.relation, "tail": args.tail}
    if args.json:
        print(json_text({"query": query, "predictions": rows}))
    else:
        missing = "tail" if args.head is not None else "head"
        print(f"({args.head or '?'}, {args.relation}, {args.tail or '?'}): top {k} {missing}s")
        for row in rows:
            print(f"{row['rank']:>4}  {row['score']:>10.4f}  {row['entity']}")
    return 0


def _emit(result: dict[str, Any], as_json: bool, title: str) -> None:
    from graphformers.kg.training import json_text

    if as_json:
        print(json_text(result))
        return
    print(title)
    for split in ("valid", "test", "train"):
        if split not in result:
            continue
        for side, m in result[split]["realistic"].items():
            print(f"  {split:<5} {side:<4}  MRR {m['mrr']:.4f}  MR {m['mr']:.1f}  H@1 {m['hits@1']:.4f}  "
                  f"H@3 {m['hits@3']:.4f}  H@10 {m['hits@10']:.4f}  (n={m['count']})")
