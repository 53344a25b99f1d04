"""Mini-batch training for graph-level (and node-level) property prediction.

The loop knows nothing about the model: it calls ``model(batch)`` and compares
with ``batch.y``. Targets may hold NaN for missing labels (MoleculeNet/OGB
multi-task sets); those entries are left out of the loss and of the metric.
Model selection is on the validation split only; the test split is evaluated
at every epoch for the record but never used to choose.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

Metric = Callable[[Tensor, Tensor], float]


def masked_loss(loss_fn: Callable[[Tensor, Tensor], Tensor], pred: Tensor, y: Tensor) -> Tensor:
    """``loss_fn`` over the labelled (non-NaN) entries of ``y`` (shape of ``pred``)."""
    y = y.view_as(pred).to(pred.dtype)
    labelled = ~torch.isnan(y)
    return loss_fn(pred[labelled], y[labelled])


def train_epoch(
    model: nn.Module,
    loader: Iterable,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    *,
    clip_norm: float | None = 5.0,
    progress: bool = False,
) -> float:
    """One pass over ``loader``; returns the mean training loss per batch.

    A batch with no labelled entries (every target NaN) has no loss: it is
    skipped (no update) and left out of the mean. NaN when no batch had a label.
    """
    model.train()
    total, count = 0.0, 0
    for batch in tqdm(loader, desc="train", leave=False, disable=not progress):
        if not (~torch.isnan(batch.y)).any():
            continue
        optimizer.zero_grad(set_to_none=True)
        loss = masked_loss(loss_fn, model(batch), batch.y)
        loss.backward()
        if clip_norm is not None:
            nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
        optimizer.step()
        total += float(loss.detach())
        count += 1
    return total / count if count else math.nan


@torch.no_grad()
def predict(model: nn.Module, loader: Iterable) -> tuple[Tensor, Tensor]:
    """Concatenated predictions and targets over ``loader`` (eval mode)."""
    model.eval()
    preds, ys = [], []
    for batch in loader:
        pred = model(batch)
        preds.append(pred)
        ys.append(batch.y.view_as(pred).to(pred.dtype))
    return torch.cat(preds), torch.cat(ys)


def evaluate(model: nn.Module, loader: Iterable, metric: Metric) -> float:
    """``metric(y_true, y_pred)`` over ``loader``."""
    pred, y = predict(model, loader)
    return metric(y, pred)


@dataclass
class EpochRecord:
    """Per-epoch log line."""

    epoch: int
    train_loss: float
    valid: float
    test: float
    seconds: float


@dataclass
class FitResult:
    """What :func:`fit` returns: the curve and the validation-selected epoch."""

    history: list[EpochRecord] = field(default_factory=list)
    best_epoch: int = -1
    best_valid: float = math.nan
    test_at_best_valid: float = math.nan
    seconds_per_epoch: float = math.nan

    def to_dict(self) -> dict:
        return {**{k: v for k, v in asdict(self).items() if k != "history"},
                "history": [asdict(r) for r in self.history]}


def fit(
    model: nn.Module,
    loaders: dict[str, Iterable],
    *,
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    metric: Metric,
    higher_is_better: bool,
    epochs: int,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    progress: bool = True,
    desc: str = "epochs",
) -> FitResult:
    """Train with Adam and a cosine schedule; select the epoch by validation metric.

    Args:
        model: maps a batch to predictions shaped like ``batch.y``.
        loaders: ``{"train", "valid", "test"}`` data loaders.
        loss_fn: e.g. ``nn.MSELoss()`` or ``nn.BCEWithLogitsLoss()``.
        metric: ``metric(y_true, y_pred) -> float``.
        higher_is_better: direction of ``metric`` (ROC-AUC: True, RMSE: False).
        epochs: number of epochs.

    The best epoch is the one with the best finite validation value (the first
    one on ties); a NaN or infinite value is never selected, and ``best_epoch``
    stays -1 (with NaN best values) when no epoch had a finite one.
    """
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(epochs, 1))
    result = FitResult()
    sign = 1.0 if higher_is_better else -1.0
    bar = tqdm(range(1, epochs + 1), desc=desc, disable=not progress)
    start = time.perf_counter()
    for epoch in bar:
        t0 = time.perf_counter()
        loss = train_epoch(model, loaders["train"], optimizer, loss_fn)
        scheduler.step()
        seconds = time.perf_counter() - t0
        valid = evaluate(model, loaders["valid"], metric)
        test = evaluate(model, loaders["test"], metric)
        result.history.append(EpochRecord(epoch, loss, valid, test, seconds))
        if math.isfinite(valid) and (result.best_epoch < 0 or sign * valid > sign * result.best_valid):
            result.best_epoch, result.best_valid, result.test_at_best_valid = epoch, valid, test
        bar.set_postfix(loss=f"{loss:.3f}", valid=f"{valid:.3f}", best=f"{result.best_valid:.3f}")
    result.seconds_per_epoch = (time.perf_counter() - start) / max(epochs, 1)
    return result


def rmse(y_true: Tensor, y_pred: Tensor) -> float:
    """Root mean squared error over labelled entries."""
    labelled = ~torch.isnan(y_true)
    return float(torch.sqrt(((y_true[labelled] - y_pred[labelled]) ** 2).mean()))
