"""Filtered rank-based link-prediction metrics (MRR, MR, Hits@k).

The standard protocol (Bordes et al., 2013, "filtered" setting): for a query
``(h, r, ?)`` with true answer ``t`` the model scores every entity; every
*other* entity ``t'`` with ``(h, r, t')`` known true (train, valid or test) is
removed before ranking. Head queries ``(?, r, t)`` are asked as tail queries of
the reciprocal relation ``(t, r + R, ?)``.

Ties are explicit (Berrendorf et al., 2020, "Interpretable and Fair
Comparison of Link Prediction or Entity Alignment Methods"):

.. math::
    \mathrm{rank}_{opt} = 1 + |\{e : s_e > s_t\}|, \quad
    \mathrm{rank}_{pess} = |\{e : s_e \ge s_t\}|, \quad
    \mathrm{rank}_{real} = \tfrac12(\mathrm{rank}_{opt} + \mathrm{rank}_{pess})

counted over the unfiltered entities (the true one included).

Everything is batched: the known answers live in a CSR index keyed by the query
``(head, relation)`` and are scattered into the score matrix with one indexing
operation per batch.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from graphformers.utils.checks import out_of_range

TIES: tuple[str, ...] = ("realistic", "optimistic", "pessimistic")


class FilterIndex:
    r"""Known answers of every ``(head, relation)`` query, stored as CSR.

    Built from id triples ``[T, 3]``; with ``reciprocal=True`` each triple
    ``(h, r, t)`` also adds the answer ``h`` to the query ``(t, r + R)``.

    Args:
        triples: ``LongTensor [T, 3]`` of all known true triples.
        num_nodes: number of entities ``N``.
        num_relations: number of relations ``R`` (without inverses).
        reciprocal: add the inverse queries (default: ``True``).

    Shapes:
        :meth:`answers` takes ``head_index [B]``, ``rel_type [B]`` and returns
        ``row [K]``, ``col [K]``: every known answer ``col`` of query ``row``.
    """

    def __init__(self, triples: Tensor, num_nodes: int, num_relations: int, *, reciprocal: bool = True) -> None:
        self.num_nodes = num_nodes
        self.num_relations = num_relations
        self.reciprocal = reciprocal
        self.num_query_relations = 2 * num_relations if reciprocal else num_relations
        h, r, t = triples.long().t()
        if reciprocal:
            h, r, t = torch.cat([h, t]), torch.cat([r, r + num_relations]), torch.cat([t, h])
        key = h * self.num_query_relations + r
        # sort by (key, answer) and drop duplicate triples
        pair = torch.unique(key * num_nodes + t)
        key, ans = pair // num_nodes, pair % num_nodes
        self.keys, counts = torch.unique_consecutive(key, return_counts=True)
        self.indptr = torch.zeros(self.keys.numel() + 1, dtype=torch.long)
        self.indptr[1:] = counts.cumsum(0)
        self.values = ans

    def answers(self, head_index: Tensor, rel_type: Tensor) -> tuple[Tensor, Tensor]:
        """All known answers of a batch of queries as ``(row, col)`` index pairs."""
        key = head_index.long().cpu() * self.num_query_relations + rel_type.long().cpu()
        if self.keys.numel() == 0:
            empty = torch.zeros(0, dtype=torch.long)
            return empty, empty
        pos = torch.searchsorted(self.keys, key).clamp_max(self.keys.numel() - 1)
        hit = self.keys[pos] == key
        start = torch.where(hit, self.indptr[pos], 0)
        count = torch.where(hit, self.indptr[pos + 1] - self.indptr[pos], 0)
        row = torch.repeat_interleave(torch.arange(key.numel()), count)
        # offset of each answer inside its query's run: 0, 1, ..., count-1
        first = torch.repeat_interleave(count.cumsum(0) - count, count)
        offset = torch.arange(row.numel()) - first
        col = self.values[torch.repeat_interleave(start, count) + offset]
        return row, col

    def mask(self, head_index: Tensor, rel_type: Tensor) -> Tensor:
        """Dense boolean ``[B, N]`` mask of known answers (for small graphs and tests)."""
        row, col = self.answers(head_index, rel_type)
        out = torch.zeros(head_index.numel(), self.num_nodes, dtype=torch.bool)
        out[row, col] = True
        return out

    def __repr__(self) -> str:
        return (f"FilterIndex(num_nodes={self.num_nodes}, num_relations={self.num_relations}, "
                f"queries={self.keys.numel()}, answers={self.values.numel()}, reciprocal={self.reciprocal})")


def ranks_from_scores(
    scores: Tensor,
    target: Tensor,
    filter_row: Tensor | None = None,
    filter_col: Tensor | None = None,
    *,
    inplace: bool = False,
) -> dict[str, Tensor]:
    r"""Filtered ranks of the true entities, with all three tie policies.

    Args:
        scores: ``[B, N]`` scores of every candidate (higher = more plausible).
        target: ``[B]`` index of the true candidate of each row.
        filter_row, filter_col: ``[K]`` candidates to remove (e.g. from
            :meth:`FilterIndex.answers`); the true candidate itself is never removed.
            Removed candidates are excluded by index, whatever their score (a
            true score of ``-inf`` does not tie with them); duplicate pairs count once.
        inplace: kept for compatibility; ``scores`` is never modified (no copy is made).

    Returns:
        ``{"optimistic": [B], "pessimistic": [B], "realistic": [B]}`` float ranks (1 = best).
    """
    if scores.dim() != 2 or target.dim() != 1 or target.numel() != scores.size(0):
        raise ValueError(f"scores [B, N] and target [B] expected, got {tuple(scores.shape)}, {tuple(target.shape)}")
    arange = torch.arange(scores.size(0), device=scores.device)
    target = target.to(scores.device)
    true = scores[arange, target]
    if torch.isnan(true).any():
        raise ValueError("NaN score for a true candidate; the model diverged")
    greater = (scores > true.unsqueeze(1)).sum(1)
    greater_equal = (scores >= true.unsqueeze(1)).sum(1)
    if filter_row is not None and filter_col is not None and filter_row.numel():
        # subtract the removed candidates' counts: no sentinel score, so -inf true scores rank right
        num, size = scores.size(1), scores.size(0)
        f_row, f_col = filter_row.to(scores.device).long(), filter_col.to(scores.device).long()
        if f_row.shape != f_col.shape:
            raise ValueError(f"filter_row and filter_col differ in shape: {tuple(f_row.shape)} vs {tuple(f_col.shape)}")
        for name, idx, bound in (("filter_row", f_row, size), ("filter_col", f_col, num)):
            bad = out_of_range(idx, bound)
            if bad is not None:  # row * num + col would hit another query
                raise IndexError(f"{name} holds {bad}, outside 0..{bound - 1}")
        pair = torch.unique(f_row * num + f_col)
        row, col = pair // num, pair % num
        keep = col != target[row]
        row, col = row[keep], col[keep]
        removed, true_row = scores[row, col], true[row]
        greater = greater - torch.bincount(row, weights=(removed > true_row).double(), minlength=size).long()
        greater_equal = greater_equal - torch.bincount(
            row, weights=(removed >= true_row).double(), minlength=size).long()
    optimistic = (greater + 1).double()
    pessimistic = greater_equal.double()
    return {"optimistic": optimistic, "pessimistic": pessimistic, "realistic": 0.5 * (optimistic + pessimistic)}


def rank_metrics(ranks: Tensor, ks: Sequence[int] = (1, 3, 10)) -> dict[str, float]:
    """MRR, MR and Hits@k of a vector of (possibly fractional) ranks."""
    ranks = ranks.double()
    if ranks.numel() == 0:
        return {"mrr": float("nan"), "mr": float("nan"), **{f"hits@{k}": float("nan") for k in ks}, "count": 0}
    out = {"mrr": float((1.0 / ranks).mean()), "mr": float(ranks.mean())}
    for k in ks:
        out[f"hits@{k}"] = float((ranks <= k).double().mean())
    out["count"] = int(ranks.numel())
    return out


class RankAccumulator:
    """Collects ranks per side (``head``/``tail``) and tie policy, then summarizes.

    Example::

        acc = RankAccumulator()
        acc.add("tail", ranks_from_scores(scores, target, row, col))
        acc.summary()["both"]["mrr"]
    """

    def __init__(self, ks: Sequence[int] = (1, 3, 10)) -> None:
        self.ks = tuple(ks)
        self._ranks: dict[str, dict[str, list[Tensor]]] = {}

    def add(self, side: str, ranks: dict[str, Tensor]) -> None:
        """Append a batch of ranks (the dict from :func:`ranks_from_scores`)."""
        store = self._ranks.setdefault(side, {tie: [] for tie in TIES})
        for tie in TIES:
            store[tie].append(ranks[tie].detach().cpu())

    def ranks(self, side: str = "both", ties: str = "realistic") -> Tensor:
        """All ranks of ``side`` (``"head"``, ``"tail"`` or ``"both"``)."""
        if ties not in TIES:
            raise ValueError(f"ties={ties!r}; expected one of {TIES}")
        sides = list(self._ranks) if side == "both" else [side]
        parts = [t for s in sides for t in self._ranks.get(s, {}).get(ties, [])]
        return torch.cat(parts) if parts else torch.empty(0, dtype=torch.double)

    def summary(self, ties: str = "realistic") -> dict[str, dict[str, float]]:
        """``{"both": metrics, "head": metrics, "tail": metrics}`` for one tie policy."""
        sides = ["both", *sorted(self._ranks)]
        return {s: rank_metrics(self.ranks(s, ties), self.ks) for s in sides}

    def to_dict(self) -> dict[str, dict[str, dict[str, float]]]:
        """Every tie policy: ``{ties: {side: metrics}}``."""
        return {tie: self.summary(tie) for tie in TIES}
