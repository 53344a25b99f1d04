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

    threads = args.threads or cfg_threads
    if threads:
        torch.set_num_threads(threads)


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


def cmd_train(args: argparse.Namespace) -> int:
    """``kgc train``: resolve the config, prepare --out, train, print test metrics."""
    import yaml

    from graphformers.kg.config import resolve_config
    from graphformers.kg.registry import build_model
    from graphformers.kg.training import KGCTrainer, atomic_write_text, prepare_output_dir

    if args.resume:
        if args.out and Path(args.out).resolve() != Path(args.resume).resolve():
            raise ValueError("--resume DIR continues in DIR; do not pass a different --out")
        given = [f for f in ("dataset", "model", "config", "data_dir") if getattr(args, f)] + \
            (["--set"] if args.overrides else [])
        if given:
            raise ValueError(f"--resume uses the run's saved config; drop {', '.join(given)}")
        out = Path(args.resume)
        cfg_path = out / "config.yaml"
        if not cfg_path.is_file():
            raise FileNotFoundError(f"{cfg_path} not found: {out} is not a `kgc train` run")
        cfg = yaml.safe_load(cfg_path.read_text())
    else:
        if not args.out:
            raise ValueError("--out DIR is required (or --resume DIR)")
        cfg = resolve_config(dataset=args.dataset, model=args.model, config_file=args.config,
                             overrides=args.overrides)
        if args.data_dir:
            cfg["data_dir"] = str(Path(args.data_dir).resolve())
    _setup_torch(args, int(cfg["training"].get("num_threads", 0)))
    kg = _load_kg(cfg)
    _seed_everything(int(cfg["seed"]))
    model = build_model(cfg["model"]["name"], kg.num_nodes, 2 * kg.num_relations, **_model_kwargs(cfg))
    model = model.to(args.device)
    if args.resume:
        trainer = KGCTrainer(model, kg, cfg, out, progress=not args.no_progress)
        trainer.resume()
    else:
        out = prepare_output_dir(args.out, overwrite=args.overwrite)
        atomic_write_text(out / "config.yaml", yaml.safe_dump(cfg, sort_keys=False))
        atomic_write_text(out / "vocab.json", json.dumps({"entities": kg.entities, "relations": kg.relations}))
        trainer = KGCTrainer(model, kg, cfg, out, progress=not args.no_progress)
    print(f"{kg!r}; {model!r}; {sum(p.numel() for p in model.parameters()):,} parameters; out={out}",
          file=sys.stderr)
    result = trainer.fit()
    _emit(result, args.json, f"{kg.name} {cfg['model']['name']}")
    return 0


def _load_run(run_dir: str, checkpoint: str, device: str):
    import torch
    import yaml

    from graphformers.kg.registry import build_model

    run = Path(run_dir)
    for name in ("config.yaml", "vocab.json"):
        if not (run / name).is_file():
            raise FileNotFoundError(f"{run / name} not found: {run} is not a `kgc train` run")
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    vocab = json.loads((run / "vocab.json").read_text())
    model = build_model(cfg["model"]["name"], len(vocab["entities"]), 2 * len(vocab["relations"]),
                        **_model_kwargs(cfg))
    path = run / ("best.pt" if checkpoint == "best" else "checkpoint.pt")
    if checkpoint == "best" and not path.is_file():
        path = run / "checkpoint.pt"
    if not path.is_file():
        raise FileNotFoundError(f"{run}: no best.pt or checkpoint.pt (did training start?)")
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"] if "optimizer" in state else state)
    return cfg, vocab, model.to(device).eval()


def cmd_evaluate(args: argparse.Namespace) -> int:
    """``kgc evaluate``: filtered metrics of a saved run on one split."""
    from graphformers.evaluation.ranking import FilterIndex
    from graphformers.kg.evaluate import evaluate_link_prediction

    _setup_torch(args)
    cfg, vocab, model = _load_run(args.run_dir, args.checkpoint, args.device)
    kg = _load_kg(cfg, args.data_dir)
    if kg.entities != vocab["entities"] or kg.relations != vocab["relations"]:
        raise ValueError(f"the triples of {kg.name} do not match {args.run_dir}/vocab.json "
                         "(different dataset or files)")
    fi = FilterIndex(kg.all_triples(), kg.num_nodes, kg.num_relations)
    acc = evaluate_link_prediction(model, kg.split(args.split), fi, num_relations=kg.num_relations,
                                   batch_size=int(cfg["evaluation"]["batch_size"]),
                                   progress=not args.no_progress)
    result = {"dataset": kg.name, "model": cfg["model"]["name"], "split": args.split, **{args.split: acc.to_dict()}}
    _emit(result, args.json, f"{kg.name} {cfg['model']['name']}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    """``kgc predict``: rank all entities for ``(head, relation, ?)`` or ``(?, relation, tail)``."""
    import torch

    from graphformers.kg.triples import lookup_name

    if args.top_k < 1:
        raise ValueError("--top-k must be at least 1")
    _setup_torch(args)
    cfg, vocab, model = _load_run(args.run_dir, args.checkpoint, args.device)
    ent_index = {e: i for i, e in enumerate(vocab["entities"])}
    rel_index = {r: i for i, r in enumerate(vocab["relations"])}
    entity = args.head if args.head is not None else args.tail
    e = lookup_name(ent_index, entity, "entity")
    r = lookup_name(rel_index, args.relation, "relation")
    if args.tail is not None:
        r += len(vocab["relations"])  # heads via the reciprocal relation
    with torch.no_grad():
        scores = model.score_all_tails(torch.tensor([e], device=args.device), torch.tensor([r], device=args.device))[0]
    k = min(args.top_k, scores.numel())
    top = scores.topk(k)
    rows = [{"rank": i + 1, "entity": vocab["entities"][j], "score": float(s)}
            for i, (s, j) in enumerate(zip(top.values.tolist(), top.indices.tolist()))]
    query = {"head": args.head, "relation": args.relation, "tail": args.tail}
    if args.json:
        print(json.dumps({"query": query, "predictions": rows}))
    else:
        missing = "tail" if args.head is not None else "head"
        print(f"({args.head or '?'}, {args.relation}, {args.tail or '?'}): top {k} {missing}s")
        for row in rows:
            print(f"{row['rank']:>4}  {row['score']:>10.4f}  {row['entity']}")
    return 0


def _emit(result: dict[str, Any], as_json: bool, title: str) -> None:
    if as_json:
        print(json.dumps(result))
        return
    print(title)
    for split in ("valid", "test", "train"):
        if split not in result:
            continue
        for side, m in result[split]["realistic"].items():
            print(f"  {split:<5} {side:<4}  MRR {m['mrr']:.4f}  MR {m['mr']:.1f}  H@1 {m['hits@1']:.4f}  "
                  f"H@3 {m['hits@3']:.4f}  H@10 {m['hits@10']:.4f}  (n={m['count']})")
