"""Train ViT and ConvNet in graph form and as plain torch references, the same way.

For every model kind (``vit``, ``convnet``) and seed, the graph model is built
with that seed and the torch reference gets a copy of its initial weights
(``load_from_graph``), then both train with the same optimizer, schedule,
epochs and minibatch order. The test split is never used for any decision:
the accuracy reported is that of the last epoch.

Writes ``<out>/runs.jsonl`` (one line per run, appended as runs finish) and
``<out>/summary.json`` (accuracy mean ± std per model and form, and the
training-time ratio graph / reference; ``null`` when the reference time is 0).
Arguments, data, models and schedules are all checked before ``--out`` is
created. Refuses to reuse an existing non-empty ``--out`` unless
``--overwrite``, which first removes the old ``summary.json`` (so a run killed
midway never leaves a summary of other runs next to the new ``runs.jsonl``).

Example::

    python scripts/train_vision.py --dataset digits --out results/vision_digits
    python scripts/train_vision.py --dataset mnist --seeds 0 1 2 --out results/vision_mnist
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from graphformers.cli.args import positive_int
from graphformers.datasets.vision import ImageSplit, load_digits, load_mnist
from graphformers.models.convnet import ConvNet, TorchConvNet
from graphformers.models.vit import TorchViT, ViT
from graphformers.transforms.image import images_to_grid_graphs, images_to_patch_graphs
from graphformers.utils.io import output_dir_problem, strict_json_dumps, write_json_atomic

#: fraction of the steps spent warming up in the one-cycle schedule.
WARMUP_FRACTION = 0.1


@dataclass(frozen=True)
class Config:
    """Per-dataset sizes and schedule: ViT patch size/width/depth/heads, ConvNet widths,
    and per model kind the (epochs, peak learning rate) of AdamW with a one-cycle schedule.
    Graph form and reference always share them."""

    patch_size: int
    vit_channels: int
    vit_layers: int
    vit_heads: int
    conv_channels: tuple[int, ...]
    schedule: dict[str, tuple[int, float]]
    batch_size: int = 64
    weight_decay: float = 0.01


CONFIGS = {
    "digits": Config(2, 32, 2, 4, (16, 32), {"vit": (30, 2e-3), "convnet": (60, 1e-2)}),
    "mnist": Config(4, 64, 4, 4, (16, 32, 64), {"vit": (8, 1e-3), "convnet": (8, 1e-2)}),
}


class GraphViT(nn.Module):
    """Image batch -> patch graph -> :class:`ViT` (graph construction counted in the time)."""

    def __init__(self, model: ViT, patch_size: int) -> None:
        super().__init__()
        self.model = model
        self.patch_size = patch_size

    def forward(self, images: Tensor) -> Tensor:
        g = images_to_patch_graphs(images, self.patch_size, class_token=True)
        return self.model(g.x, g.edge_index, g.batch, position=g.position, class_mask=g.class_mask)


class GraphConvNet(nn.Module):
    """Image batch -> pixel grid graph -> :class:`ConvNet`."""

    def __init__(self, model: ConvNet) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: Tensor) -> Tensor:
        g = images_to_grid_graphs(images)
        return self.model(g.x, g.edge_index, g.edge_type, g.pos, g.batch)


def build(kind: str, cfg: Config, data: ImageSplit, seed: int) -> tuple[nn.Module, nn.Module]:
    """The graph-form model (seeded init) and the torch reference with the same initial weights."""
    torch.manual_seed(seed)
    _, c, h, w = data.train_x.shape
    if kind == "vit":
        p = cfg.patch_size
        vit = ViT(c * p * p, cfg.vit_channels, cfg.vit_layers, data.num_classes, (h // p) * (w // p), heads=cfg.vit_heads)
        ref = TorchViT(c, p, h, cfg.vit_channels, cfg.vit_layers, data.num_classes, heads=cfg.vit_heads)
        return GraphViT(vit, p), ref.load_from_graph(vit)
    if kind == "convnet":
        conv = ConvNet(c, list(cfg.conv_channels), data.num_classes)
        return GraphConvNet(conv), TorchConvNet(c, list(cfg.conv_channels), data.num_classes).load_from_graph(conv)
    raise ValueError(f"unknown model kind {kind!r} (choose vit or convnet)")


@torch.no_grad()
def accuracy(model: nn.Module, x: Tensor, y: Tensor, batch_size: int = 500) -> float:
    model.eval()
    correct = sum(int((model(x[i : i + batch_size]).argmax(-1) == y[i : i + batch_size]).sum()) for i in range(0, len(y), batch_size))
    return correct / len(y)


def num_steps(num_train: int, batch_size: int, epochs: int) -> int:
    """Optimizer steps of a run: ``epochs`` times the minibatches per epoch (the last one may be partial)."""
    return epochs * -(-num_train // batch_size)


def one_cycle(opt: torch.optim.Optimizer, max_lr: float, steps: int) -> torch.optim.lr_scheduler.OneCycleLR:
    """The one-cycle schedule of a run of ``steps >= 1`` optimizer steps.

    Warm-up over the first :data:`WARMUP_FRACTION` of the steps, then cosine
    annealing. ``OneCycleLR`` divides by ``pct_start * steps - 1`` (zero for
    10 steps at ``pct_start=0.1``), so runs whose warm-up would not last longer
    than one step (``steps <= 10``) skip the warm-up; every longer run gets
    exactly the schedule it always had.

    Raises:
        ValueError: if ``steps < 1``.
    """
    if steps < 1:
        raise ValueError(f"a one-cycle schedule needs at least one step, got {steps}")
    pct_start = WARMUP_FRACTION if WARMUP_FRACTION * steps > 1 else 0.0
    return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=max_lr, total_steps=steps, pct_start=pct_start)


def make_optimizer(
    model: nn.Module, cfg: Config, lr: float, steps: int
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.OneCycleLR]:
    """AdamW (``cfg.weight_decay``) and its :func:`one_cycle` schedule over ``steps`` steps."""
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=cfg.weight_decay)
    return opt, one_cycle(opt, lr, steps)


def train(model: nn.Module, data: ImageSplit, cfg: Config, epochs: int, lr: float, seed: int, desc: str) -> dict:
    """AdamW + one-cycle schedule, seeded minibatch order; returns accuracy and timings.

    Times are in seconds, unrounded (a fast run may take well under 10 ms;
    rounding would turn it into 0 and the graph / reference ratio into a
    division by zero).
    """
    opt, sched = make_optimizer(model, cfg, lr, num_steps(len(data.train_y), cfg.batch_size, epochs))
    gen = torch.Generator().manual_seed(seed)
    train_time, history = 0.0, []
    for epoch in tqdm(range(epochs), desc=desc, file=sys.stderr, leave=False):
        model.train()
        perm = torch.randperm(len(data.train_y), generator=gen)
        start, total = time.perf_counter(), 0.0
        for i in range(0, len(perm), cfg.batch_size):
            idx = perm[i : i + cfg.batch_size]
            loss = F.cross_entropy(model(data.train_x[idx]), data.train_y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        train_time += time.perf_counter() - start
        history.append(round(total / len(perm), 5))
    start = time.perf_counter()
    acc = accuracy(model, data.test_x, data.test_y)
    return {"test_acc": acc, "train_time_s": train_time, "eval_time_s": time.perf_counter() - start,
            "train_loss": history}


def time_ratio(numerator: float, denominator: float) -> float | None:
    """``numerator / denominator``, or ``None`` (JSON ``null``) when the denominator is not positive."""
    return numerator / denominator if denominator > 0 else None


def summarize(runs: list[dict]) -> dict:
    """Accuracy mean ± std (unbiased) per (model, form) and graph / reference time ratios.

    The ratio is computed from the recorded (unrounded) times and is ``None``
    when the reference's mean time is 0 (e.g. times rounded by an older version).
    """
    out: dict = {}
    for kind in sorted({r["model"] for r in runs}):
        entry: dict = {}
        for form in ("graph", "torch"):
            sel = [r for r in runs if r["model"] == kind and r["form"] == form]
            accs = [r["test_acc"] for r in sel]
            entry[form] = {
                "seeds": [r["seed"] for r in sel],
                "test_acc_mean": statistics.mean(accs),
                "test_acc_std": statistics.stdev(accs) if len(accs) > 1 else 0.0,
                "train_time_s_mean": statistics.mean(r["train_time_s"] for r in sel),
            }
        entry["graph_over_torch_time_ratio"] = time_ratio(
            entry["graph"]["train_time_s_mean"], entry["torch"]["train_time_s_mean"]
        )
        out[kind] = entry
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; counts (``--epochs``, ``--limit``, ``--threads``) must be positive."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", choices=sorted(CONFIGS), default="digits")
    parser.add_argument("--models", nargs="+", choices=["vit", "convnet"], default=["vit", "convnet"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--epochs", type=positive_int, default=None, help="override the epoch count of every model")
    parser.add_argument("--limit", type=positive_int, default=None,
                        help="use only the first N training images (smoke runs)")
    parser.add_argument("--threads", type=positive_int, default=1)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--overwrite", action="store_true",
                        help="reuse a non-empty --out: runs.jsonl and summary.json are replaced")
    return parser.parse_args(argv)


def out_error(out: Path, overwrite: bool) -> str | None:
    """Why ``out`` cannot take this run's results (``None`` if it can)."""
    return output_dir_problem(out, overwrite=overwrite, label="--out", hint="pass --overwrite")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    error = out_error(args.out, args.overwrite)
    if error is not None:
        print(f"error: {error}", file=sys.stderr)
        return 2
    cfg = CONFIGS[args.dataset]
    try:
        data = load_digits() if args.dataset == "digits" else load_mnist()
    except (OSError, ValueError) as err:  # no data root, a missing or damaged MNIST file (named)
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.limit is not None:
        data = ImageSplit(data.name, data.train_x[: args.limit], data.train_y[: args.limit],
                          data.test_x, data.test_y, data.num_classes)
    plan: list[tuple[str, int, float]] = []
    for kind in args.models:
        epochs, lr = cfg.schedule[kind]
        epochs = args.epochs if args.epochs is not None else epochs
        # build every model, optimizer and schedule once before --out exists, so that a
        # configuration that cannot run fails here and leaves nothing behind
        steps = num_steps(len(data.train_y), cfg.batch_size, epochs)
        for model in build(kind, cfg, data, args.seeds[0]):
            make_optimizer(model, cfg, lr, steps)
        plan.append((kind, epochs, lr))

    args.out.mkdir(parents=True, exist_ok=True)
    # a summary from an earlier run would be stale next to the new runs.jsonl (also if this run is killed)
    (args.out / "summary.json").unlink(missing_ok=True)
    runs_path = args.out / "runs.jsonl"
    runs_path.write_text("")
    runs: list[dict] = []
    for kind, epochs, lr in plan:
        for seed in args.seeds:
            graph_model, torch_model = build(kind, cfg, data, seed)
            for form, model in (("graph", graph_model), ("torch", torch_model)):
                result = train(model, data, cfg, epochs, lr, seed, f"{args.dataset}/{kind}/{form}/seed{seed}")
                record = {"dataset": data.name, "model": kind, "form": form, "seed": seed, "epochs": epochs, "lr": lr,
                          "num_train": len(data.train_y), "num_test": len(data.test_y), **result}
                runs.append(record)
                with runs_path.open("a") as fh:
                    fh.write(strict_json_dumps(record) + "\n")
                shown = {k: record[k] for k in ("dataset", "model", "form", "seed", "test_acc")}
                print(strict_json_dumps({**shown, "train_time_s": round(record["train_time_s"], 2)}))
    summary = {"dataset": data.name, "config": cfg.__dict__, "threads": args.threads, "results": summarize(runs)}
    write_json_atomic(args.out / "summary.json", summary)
    print(strict_json_dumps(summary["results"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
