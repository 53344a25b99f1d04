"""Filtered rank metrics: hand-computed ties and filtered duplicates, CSR filter vs brute force."""

from __future__ import annotations

import pytest
import torch

from graphformers.evaluation.ranking import FilterIndex, RankAccumulator, rank_metrics, ranks_from_scores


def test_ties_hand_computed():
    scores = torch.tensor([[0.5, 0.9, 0.5, 0.1, 0.5], [1.0, 2.0, 3.0, 4.0, 5.0]])
    target = torch.tensor([0, 4])
    r = ranks_from_scores(scores, target)
    # row 0: one strictly better (1), two tied (2, 4) -> optimistic 2, pessimistic 4, realistic 3
    assert r["optimistic"].tolist() == [2.0, 1.0]
    assert r["pessimistic"].tolist() == [4.0, 1.0]
    assert r["realistic"].tolist() == [3.0, 1.0]
    m = rank_metrics(r["realistic"])
    assert m["mrr"] == pytest.approx((1 / 3 + 1) / 2)
    assert m["mr"] == pytest.approx(2.0)
    assert m["hits@1"] == pytest.approx(0.5)
    assert m["hits@3"] == pytest.approx(1.0)
    assert m["count"] == 2
    assert rank_metrics(r["optimistic"])["mrr"] == pytest.approx((1 / 2 + 1) / 2)
    assert rank_metrics(r["pessimistic"])["mrr"] == pytest.approx((1 / 4 + 1) / 2)


def test_filtered_duplicates_and_target_never_filtered():
    scores = torch.tensor([[0.5, 0.9, 0.5, 0.1, 0.5], [1.0, 2.0, 3.0, 4.0, 5.0]])
    target = torch.tensor([0, 4])
    # known answers of row 0: 0 (the target itself, must stay), 1 and 2, and 1 again (duplicate)
    row = torch.tensor([0, 0, 0, 0, 1])
    col = torch.tensor([0, 1, 2, 1, 3])
    r = ranks_from_scores(scores, target, row, col)
    # row 0 after filtering {1, 2}: nobody better, one tie (4) -> 1, 2, 1.5; row 1 unchanged
    assert r["optimistic"].tolist() == [1.0, 1.0]
    assert r["pessimistic"].tolist() == [2.0, 1.0]
    assert r["realistic"].tolist() == [1.5, 1.0]
    m = rank_metrics(r["realistic"])
    assert m["mrr"] == pytest.approx((1 / 1.5 + 1) / 2)
    assert m["hits@1"] == pytest.approx(0.5)
    # not in place by default
    assert scores[0, 1] == 0.9


def test_nan_true_score_raises():
    with pytest.raises(ValueError, match="NaN"):
        ranks_from_scores(torch.tensor([[float("nan"), 1.0]]), torch.tensor([0]))


def test_filter_index_hand_made():
    trip = torch.tensor([[0, 0, 1], [0, 0, 2], [1, 0, 2], [0, 1, 1], [0, 0, 1]])
    fi = FilterIndex(trip, num_nodes=3, num_relations=2)
    h = torch.tensor([0, 2, 1, 0, 2])
    r = torch.tensor([0, 2, 3, 1, 1])
    mask = fi.mask(h, r)
    expected = torch.tensor([[0, 1, 1], [1, 1, 0], [1, 0, 0], [0, 1, 0], [0, 0, 0]], dtype=torch.bool)
    assert torch.equal(mask, expected)
    # 4 distinct triples (one duplicate dropped) -> 4 tail + 4 head answers over 6 distinct queries
    assert "queries=6, answers=8" in repr(fi)


def test_filter_index_matches_brute_force():
    gen = torch.Generator().manual_seed(0)
    n, nr = 7, 3
    trip = torch.stack([torch.randint(n, (40,), generator=gen), torch.randint(nr, (40,), generator=gen),
                        torch.randint(n, (40,), generator=gen)], dim=1)
    fi = FilterIndex(trip, n, nr)
    known: dict[tuple[int, int], set[int]] = {}
    for h, r, t in trip.tolist():
        known.setdefault((h, r), set()).add(t)
        known.setdefault((t, r + nr), set()).add(h)
    qh = torch.arange(n).repeat_interleave(2 * nr)
    qr = torch.arange(2 * nr).repeat(n)
    mask = fi.mask(qh, qr)
    for i, (h, r) in enumerate(zip(qh.tolist(), qr.tolist())):
        assert set(mask[i].nonzero().view(-1).tolist()) == known.get((h, r), set())


def test_accumulator_sides():
    acc = RankAccumulator(ks=(1,))
    acc.add("tail", {k: torch.tensor([1.0, 2.0]) for k in ("optimistic", "pessimistic", "realistic")})
    acc.add("head", {k: torch.tensor([4.0]) for k in ("optimistic", "pessimistic", "realistic")})
    s = acc.summary()
    assert s["tail"]["mrr"] == pytest.approx(0.75)
    assert s["head"]["mrr"] == pytest.approx(0.25)
    assert s["both"]["mrr"] == pytest.approx((1 + 0.5 + 0.25) / 3)
    assert s["both"]["hits@1"] == pytest.approx(1 / 3)
    with pytest.raises(ValueError):
        acc.ranks("both", ties="average")


def test_filter_index_empty():
    fi = FilterIndex(torch.zeros(0, 3, dtype=torch.long), num_nodes=4, num_relations=2)
    assert not fi.mask(torch.tensor([0, 3]), torch.tensor([1, 3])).any()


def test_filtered_candidates_do_not_tie_with_a_neg_inf_true_score():
    ninf = float("-inf")
    scores = torch.tensor([[ninf, ninf, ninf, ninf, 0.0]])  # candidates 1, 2 filtered; ranked over {0, 3, 4}
    before = scores.clone()
    for inplace in (False, True):
        r = ranks_from_scores(scores, torch.tensor([0]), torch.tensor([0, 0, 0]), torch.tensor([1, 2, 2]),
                              inplace=inplace)
        assert r["optimistic"].tolist() == [2.0] and r["pessimistic"].tolist() == [3.0]
        assert r["realistic"].tolist() == [2.5]
        assert torch.equal(scores, before)


def test_filtering_the_true_candidate_is_ignored():
    scores = torch.tensor([[0.5, 0.9, 0.5, 0.1], [0.2, 0.2, 0.3, 0.2]])
    r = ranks_from_scores(scores, torch.tensor([0, 1]), torch.tensor([0, 0, 1, 1]), torch.tensor([0, 1, 1, 2]))
    assert r["optimistic"].tolist() == [1.0, 1.0] and r["pessimistic"].tolist() == [2.0, 3.0]


def test_filter_indices_outside_the_scores_are_an_error():
    """A filter column past the last candidate would, encoded as row * N + col, remove a
    candidate of another query: refused instead."""
    scores = torch.tensor([[0.0, 5.0, 1.0], [0.0, 5.0, 1.0]])
    target = torch.tensor([0, 0])
    with pytest.raises(IndexError, match="filter_col holds 4, outside 0..2"):
        ranks_from_scores(scores, target, torch.tensor([0]), torch.tensor([4]))
    with pytest.raises(IndexError, match="filter_row holds -1"):
        ranks_from_scores(scores, target, torch.tensor([-1]), torch.tensor([1]))
