"""Training KG scorers: 1-N cross-entropy or negative sampling, N3/L2, early stopping, resume.

:class:`KGCTrainer` owns one run's output folder::

    config.yaml        the resolved configuration
    vocab.json         entity and relation names (for ``predict``)
    checkpoint.pt      last state: model, optimizer, RNG states, epoch, early stopping
    best.pt            model weights with the best validation ``evaluation.metric`` (MRR by default)
    early_stopping.jsonl  one line per validation round
    metrics.json       final valid/test metrics of the best model

Every file is written atomically (temporary file + :func:`os.replace`), so a
killed run leaves the last complete checkpoint, and ``resume`` continues from
it to the same result as an uninterrupted run (the shuffling generator, the
global torch RNG and the optimizer state are all restored). A run killed during
its first epoch has no checkpoint yet; ``resume`` then starts again at epoch 0.
JSON files are strict JSON (:func:`graphformers.utils.io.strict_json_dumps`: no ``NaN``).
"""

from __future__ import annotations

import json
import math
import os
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphformers.evaluation.ranking import FilterIndex
from graphformers.kg.config import EVAL_METRICS, LOWER_IS_BETTER, validate_config
from graphformers.kg.evaluate import evaluate_link_prediction
from graphformers.kg.triples import SPLITS, KGTriples
from graphformers.utils import io
from graphformers.utils.io import load_weights
from graphformers.utils.io import strict_json_dumps as json_text


def reciprocal_queries(triples: Tensor, num_relations: int) -> Tensor:
    """``[T, 3]`` -> ``[2T, 3]``: each triple plus ``(t, r + R, h)``."""
    inv = torch.stack([triples[:, 2], triples[:, 1] + num_relations, triples[:, 0]], dim=1)
    return torch.cat([triples, inv], dim=0)


# ----------------------------------------------------------------- losses
def one_vs_all_loss(model: nn.Module, batch: Tensor, cfg: dict[str, Any], gen: torch.Generator) -> Tensor:
    """Cross-entropy of the true tail against all entities (1-N scoring)."""
    logits = model.score_all_tails(batch[:, 0], batch[:, 1])
    return F.cross_entropy(logits, batch[:, 2], label_smoothing=float(cfg["label_smoothing"]))


def negative_sampling_loss(model: nn.Module, batch: Tensor, cfg: dict[str, Any], gen: torch.Generator) -> Tensor:
    r"""Logistic loss with uniformly corrupted tails, self-adversarially weighted.

    .. math::
        L = -\log\sigma(f(h,r,t)) - \sum_j p_j \log\sigma(-f(h,r,t'_j)), \quad
        p = \mathrm{softmax}(\alpha f(h, r, t'))\ \text{(no gradient)}

    (Sun et al., 2019); ``adversarial_temperature = 0`` gives uniform weights.
    """
    b, k = batch.size(0), int(cfg["num_negatives"])
    num_nodes = model.num_nodes
    neg = torch.randint(num_nodes, (b, k), generator=gen).to(batch.device)
    pos = model.score(batch[:, 0], batch[:, 1], batch[:, 2])
    h = batch[:, 0].unsqueeze(1).expand(b, k).reshape(-1)
    r = batch[:, 1].unsqueeze(1).expand(b, k).reshape(-1)
    neg_scores = model.score(h, r, neg.reshape(-1)).view(b, k)
    alpha = float(cfg["adversarial_temperature"])
    weights = torch.softmax(alpha * neg_scores.detach(), dim=1)
    return (-F.logsigmoid(pos) - (weights * F.logsigmoid(-neg_scores)).sum(1)).mean()


LOSSES: dict[str, Callable[[nn.Module, Tensor, dict[str, Any], torch.Generator], Tensor]] = {
    "1vsall": one_vs_all_loss,
    "negative_sampling": negative_sampling_loss,
}


def n3(factors: list[Tensor]) -> Tensor:
    """Nuclear 3-norm (Lacroix et al., ICML 2018): ``sum |f|^3 / B``."""
    return sum(f.abs().pow(3).sum() for f in factors) / factors[0].size(0)


def l2(factors: list[Tensor]) -> Tensor:
    """Squared L2 norm of the factors: ``sum f^2 / B``."""
    return sum(f.pow(2).sum() for f in factors) / factors[0].size(0)


REGULARIZERS: dict[str, Callable[[list[Tensor]], Tensor] | None] = {"n3": n3, "l2": l2, "none": None}
OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "adagrad": torch.optim.Adagrad, "adam": torch.optim.Adam, "sgd": torch.optim.SGD,
}


# ------------------------------------------------------------------ files
def atomic_write_bytes(path: Path, write: Callable[[Any], None]) -> None:
    """Write ``path`` through a temporary file in the same folder, then rename."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as fh:
        write(fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def atomic_save(obj: Any, path: Path) -> None:
    """:func:`torch.save` ``obj`` atomically."""
    atomic_write_bytes(path, lambda fh: torch.save(obj, fh))


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, lambda fh: fh.write(text.encode("utf-8")))


#: what a KG run writes to its --out; an --overwrite run deletes them first, so that a
#: checkpoint of the previous run cannot be resumed into the new one
RUN_FILES = ("checkpoint.pt", "best.pt", "metrics.json", "early_stopping.jsonl", "config.yaml", "vocab.json")


def _advice(path: str | Path) -> dict[str, str]:
    """How the KG command line names an output folder and what it advises for a full one."""
    return {"label": "--out", "hint": f"pass --overwrite or use --resume {path}"}


def check_output_dir(path: str | Path, *, overwrite: bool = False) -> None:
    """Raise :class:`FileExistsError` if :func:`prepare_output_dir` would refuse ``path`` (writes nothing)."""
    io.check_output_dir(path, overwrite=overwrite, **_advice(path))


def prepare_output_dir(path: str | Path, *, overwrite: bool = False) -> Path:
    """Create ``path``; refuse an existing non-empty folder unless ``overwrite``
    (then the previous run's :data:`RUN_FILES` are deleted)."""
    return io.prepare_output_dir(path, overwrite=overwrite, stale=RUN_FILES, **_advice(path))


def check_splits(kg: KGTriples, unseen: str = "keep") -> None:
    """Raise :class:`ValueError` if a split of ``kg`` has no triples (training needs all three).

    Args:
        kg: the triples.
        unseen: the config's ``unseen`` policy (named in the message when ``drop``
            may have emptied a split).
    """
    need = {"train": "nothing to train on", "valid": "early stopping needs validation triples",
            "test": "the final test metrics need test triples"}
    for split in SPLITS:
        if kg.split(split).size(0) == 0:
            hint = (f" after unseen=drop removed the {split} triples whose entity or relation never occurs "
                    "in train" if unseen == "drop" and split != "train" else "")
            raise ValueError(f"{kg.name}: the {split} split has no triples{hint}; {need[split]}")


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class KGCTrainer:
    """Train a scorer on ``kg`` with ``cfg`` (see :mod:`graphformers.kg.config`), writing to ``out``.

    Early stopping follows ``evaluation.metric`` on the valid split (``mrr``,
    ``hits@k``: higher is better; ``mr``: lower is better).

    Args:
        model: a KG scorer built with ``2 * kg.num_relations`` relations.
        kg: the triples.
        cfg: the resolved configuration (checked with :func:`validate_config`).
        out: output folder (already prepared; the constructor writes nothing).
        progress: show tqdm bars on stderr.

    Raises:
        ValueError: a bad config value (naming the key), or an empty train, valid or
            test split.
    """

    def __init__(self, model: nn.Module, kg: KGTriples, cfg: dict[str, Any], out: str | Path, *,
                 progress: bool = True) -> None:
        cfg = validate_config(cfg)
        check_splits(kg, cfg["unseen"])
        self.model, self.kg, self.cfg, self.out = model, kg, cfg, Path(out)
        self.progress = progress
        tcfg = cfg["training"]
        self.metric = cfg["evaluation"]["metric"]
        self.lower_is_better = self.metric in LOWER_IS_BETTER
        self.loss_fn = LOSSES[tcfg["loss"]]
        self.reg_fn = REGULARIZERS[cfg["regularizer"]["name"]]
        self.optimizer = OPTIMIZERS[tcfg["optimizer"]](model.parameters(), lr=float(tcfg["lr"]))
        self.generator = torch.Generator().manual_seed(int(cfg["seed"]))
        self.queries = reciprocal_queries(kg.train, kg.num_relations)
        self.filter = FilterIndex(kg.all_triples(), kg.num_nodes, kg.num_relations)
        self.epoch = 0
        self.best_score = math.inf if self.lower_is_better else -math.inf
        self.best_epoch = 0
        self.bad_rounds = 0
        self.stopped = False
        self.history: list[dict[str, Any]] = []
        self.train_seconds = 0.0

    # -------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        import numpy as np

        return {
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "epoch": self.epoch, "metric": self.metric, "best_score": self.best_score, "best_epoch": self.best_epoch,
            "bad_rounds": self.bad_rounds, "stopped": self.stopped, "history": json.dumps(self.history),
            "train_seconds": self.train_seconds,
            "generator": self.generator.get_state(), "torch_rng": torch.get_rng_state(),
            "python_rng": json.dumps(random.getstate()),
            "numpy_rng": json.dumps([x.tolist() if hasattr(x, "tolist") else x for x in np.random.get_state()]),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        import numpy as np

        if state.get("metric", "mrr") != self.metric:
            raise ValueError(f"the checkpoint stopped early on {state.get('metric', 'mrr')!r}, "
                             f"the config says evaluation.metric={self.metric!r}")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.epoch = int(state["epoch"])
        self.best_score = float(state["best_score"] if "best_score" in state else state["best_mrr"])
        self.best_epoch, self.bad_rounds = int(state["best_epoch"]), int(state["bad_rounds"])
        self.stopped, self.history = bool(state["stopped"]), json.loads(state["history"])
        self.train_seconds = float(state["train_seconds"])
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        py = json.loads(state["python_rng"])
        random.setstate((py[0], tuple(py[1]), py[2]))
        npst = json.loads(state["numpy_rng"])
        np.random.set_state((npst[0], np.array(npst[1], dtype=np.uint32), *npst[2:]))

    def save_checkpoint(self) -> None:
        atomic_save(self.state_dict(), self.out / "checkpoint.pt")

    def resume(self) -> bool:
        """Load ``checkpoint.pt`` from the output folder.

        ``checkpoint.pt`` is first written after epoch 1. Without it (the run was
        killed during its first epoch) the trainer keeps its fresh state and
        :meth:`fit` starts again at epoch 0; that gives the uninterrupted result
        when the model was built as for the original run (same ``seed``, as
        ``graphformers kgc train --resume`` does).

        Returns:
            ``True`` if a checkpoint was loaded, ``False`` for a restart at epoch 0.
        """
        path = self.out / "checkpoint.pt"
        if not path.is_file():
            history = self.out / "early_stopping.jsonl"
            later = [f.name for f in (self.out / "metrics.json",) if f.is_file()]
            if history.is_file() and len(history.read_text(encoding="utf-8").splitlines()) > 1:
                later.append(history.name)
            if later:  # only epoch 1 can end before the first checkpoint
                raise FileNotFoundError(f"{path} is missing but {self.out} holds results of later epochs "
                                        f"({', '.join(later)}); refusing to train again over them")
            _log(f"resumed {self.out}: no checkpoint.pt yet (stopped during epoch 1); starting again at epoch 0")
            return False
        self.load_state_dict(load_weights(path))
        _log(f"resumed {self.out} at epoch {self.epoch} "
             f"(best valid {self.metric} {self.best_score:.4f} @ {self.best_epoch})")
        return True

    # ----------------------------------------------------------- training
    def train_epoch(self) -> float:
        """One pass over the reciprocal training queries; returns the mean loss."""
        from tqdm.auto import tqdm

        tcfg, rcfg = self.cfg["training"], self.cfg["regularizer"]
        device = next(self.model.parameters()).device
        self.model.train()
        perm = torch.randperm(self.queries.size(0), generator=self.generator)
        bs = int(tcfg["batch_size"])
        total, count = 0.0, 0
        weight = float(rcfg["weight"])
        bar = tqdm(range(0, perm.numel(), bs), desc=f"epoch {self.epoch + 1}", leave=False,
                   disable=not self.progress, file=sys.stderr)
        for s in bar:
            batch = self.queries[perm[s:s + bs]].to(device)
            loss = self.loss_fn(self.model, batch, tcfg, self.generator)
            if self.reg_fn is not None and weight > 0:
                loss = loss + weight * self.reg_fn(self.model.regularization_factors(batch[:, 0], batch[:, 1],
                                                                                     batch[:, 2]))
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            if not torch.isfinite(loss):
                raise FloatingPointError(f"epoch {self.epoch + 1}: loss is {loss.item()}; lower training.lr")
            total += float(loss.detach()) * batch.size(0)
            count += batch.size(0)
        return total / max(count, 1)

    def evaluate(self, split: str) -> dict[str, Any]:
        """Filtered metrics of the current model on ``split`` (both sides, all tie policies)."""
        acc = evaluate_link_prediction(
            self.model, self.kg.split(split), self.filter, num_relations=self.kg.num_relations,
            batch_size=int(self.cfg["evaluation"]["batch_size"]), progress=self.progress)
        return acc.to_dict()

    def fit(self, *, stop_after: int | None = None) -> dict[str, Any]:
        """Train until ``training.epochs`` or early stopping; then test the best model.

        Args:
            stop_after: stop (as if killed) after this many epochs of *this call*,
                leaving the checkpoint for :meth:`resume` (used by tests).

        Returns:
            The final metrics (also written to ``metrics.json``).
        """
        tcfg, ecfg = self.cfg["training"], self.cfg["evaluation"]
        epochs, every, patience = int(tcfg["epochs"]), int(ecfg["every"]), int(ecfg["patience"])
        done_here = 0
        while self.epoch < epochs and not self.stopped:
            t0 = time.perf_counter()
            loss = self.train_epoch()
            self.train_seconds += time.perf_counter() - t0
            self.epoch += 1
            done_here += 1
            if self.epoch % every == 0 or self.epoch == epochs:
                metrics = self.evaluate("valid")["realistic"]["both"]
                score = float(metrics[self.metric])
                if not math.isfinite(score):
                    raise FloatingPointError(f"epoch {self.epoch}: valid {self.metric} is {score}")
                if score < self.best_score if self.lower_is_better else score > self.best_score:
                    self.best_score, self.best_epoch, self.bad_rounds = score, self.epoch, 0
                    atomic_save(self.model.state_dict(), self.out / "best.pt")
                else:
                    self.bad_rounds += 1
                    self.stopped = self.bad_rounds >= patience
                row = {"epoch": self.epoch, "loss": loss, **{f"valid_{k}": metrics[k] for k in EVAL_METRICS},
                       "metric": self.metric, f"best_{self.metric}": self.best_score,
                       "best_epoch": self.best_epoch, "bad_rounds": self.bad_rounds,
                       "stopped": self.stopped, "train_seconds": round(self.train_seconds, 2)}
                self.history.append(row)
                atomic_write_text(self.out / "early_stopping.jsonl",
                                  "".join(json_text(r) + "\n" for r in self.history))
                _log(f"epoch {self.epoch}: loss {loss:.4f} valid MRR {metrics['mrr']:.4f} "
                     f"H@10 {metrics['hits@10']:.4f} (best {self.metric} {self.best_score:.4f} @ {self.best_epoch})")
            else:
                _log(f"epoch {self.epoch}: loss {loss:.4f} ({time.perf_counter() - t0:.1f}s)")
            self.save_checkpoint()
            if stop_after is not None and done_here >= stop_after and self.epoch < epochs:
                return {"interrupted": True, "epoch": self.epoch}
        return self.finish()

    def finish(self) -> dict[str, Any]:
        """Load the best weights, evaluate valid and test, write ``metrics.json``."""
        best = self.out / "best.pt"
        if best.is_file():
            self.model.load_state_dict(load_weights(best))
        t0 = time.perf_counter()
        result = {
            "dataset": self.kg.name, "model": self.cfg["model"]["name"], "seed": self.cfg["seed"],
            "epochs_trained": self.epoch, "metric": self.metric, "best_epoch": self.best_epoch,
            "train_seconds": round(self.train_seconds, 2),
            "valid": self.evaluate("valid"), "test": self.evaluate("test"),
        }
        result["eval_seconds"] = round(time.perf_counter() - t0, 2)
        atomic_write_text(self.out / "metrics.json", json_text(result, indent=2) + "\n")
        return result
