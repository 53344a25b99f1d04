"""Filtered link-prediction evaluation of a KG scorer on both sides.

Tail queries ``(h, r, ?)`` are scored directly; head queries ``(?, r, t)`` are
asked as ``(t, r + R, ?)`` of the reciprocal relation, so one call of
``score_all_tails`` per batch serves both sides.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from graphformers.evaluation.ranking import FilterIndex, RankAccumulator, ranks_from_scores

SIDES: tuple[str, ...] = ("head", "tail")


def side_queries(triples: Tensor, num_relations: int, side: str) -> tuple[Tensor, Tensor, Tensor]:
    """``(query_entity, query_relation, answer)`` for predicting ``side`` of ``triples [T, 3]``."""
    h, r, t = triples.t()
    if side == "tail":
        return h, r, t
    if side == "head":
        return t, r + num_relations, h
    raise ValueError(f"side={side!r}; expected one of {SIDES}")


@torch.no_grad()
def evaluate_link_prediction(
    model: nn.Module,
    triples: Tensor,
    filter_index: FilterIndex | None,
    *,
    num_relations: int,
    batch_size: int = 512,
    sides: Sequence[str] = SIDES,
    ks: Sequence[int] = (1, 3, 10),
    progress: bool = False,
) -> RankAccumulator:
    """Rank every triple of ``triples`` against all entities, filtered.

    Args:
        model: a scorer with ``score_all_tails(head_index, rel_type) -> [B, N]``
            built with ``2 * num_relations`` relations (reciprocal).
        triples: ``LongTensor [T, 3]`` to evaluate.
        filter_index: known true triples to filter (``None`` = raw setting).
        num_relations: ``R``, the number of relations without inverses.
        batch_size: queries scored at once.
        sides: which sides to predict.
        ks: the ``k`` of Hits@k.
        progress: show a tqdm bar on stderr.

    Returns:
        A :class:`RankAccumulator`; ``.summary()`` gives MRR / Hits per side.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    acc = RankAccumulator(ks)
    from tqdm.auto import tqdm

    total = len(sides) * ((triples.size(0) + batch_size - 1) // batch_size)
    with tqdm(total=total, desc="evaluate", disable=not progress, leave=False) as bar:
        for side in sides:
            q_e, q_r, ans = side_queries(triples, num_relations, side)
            for s in range(0, triples.size(0), batch_size):
                e, r, a = q_e[s:s + batch_size], q_r[s:s + batch_size], ans[s:s + batch_size]
                scores = model.score_all_tails(e.to(device), r.to(device))
                row = col = None
                if filter_index is not None:
                    row, col = filter_index.answers(e, r)
                acc.add(side, ranks_from_scores(scores, a.to(device), row, col, inplace=True))
                bar.update(1)
    model.train(was_training)
    return acc
