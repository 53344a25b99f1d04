"""Sequence -> graph constructors: hand-checked edge sets, positions, encodings."""

from __future__ import annotations

import math

import pytest
import torch
from torch_geometric.data import Batch, Data

from graphformers.transforms.sequence import (
    SequenceToGraph,
    causal_edge_index,
    complete_edge_index,
    sinusoidal_encoding,
)


def test_complete_edge_index_by_hand():
    expected = torch.tensor([[0, 1, 2, 0, 1, 2, 0, 1, 2], [0, 0, 0, 1, 1, 1, 2, 2, 2]])
    assert torch.equal(complete_edge_index(3), expected)
    assert complete_edge_index(0).shape == (2, 0)


def test_causal_edge_index_by_hand():
    expected = torch.tensor([[0, 0, 1, 0, 1, 2], [0, 1, 1, 2, 2, 2]])
    assert torch.equal(causal_edge_index(3), expected)
    ei = causal_edge_index(7)
    assert ei.size(1) == 7 * 8 // 2 and bool((ei[0] <= ei[1]).all())


def test_sequence_to_graph_attributes():
    data = SequenceToGraph(causal=True, relative=True)(Data(x=torch.tensor([5, 3, 9, 1])))
    assert torch.equal(data.position, torch.arange(4))
    assert torch.equal(data.rel_pos, data.edge_index[1] - data.edge_index[0])
    assert bool((data.rel_pos >= 0).all())
    full = SequenceToGraph(relative=True)(Data(x=torch.randn(4, 2)))
    assert full.edge_index.size(1) == 16 and int(full.rel_pos.min()) == -3
    assert repr(SequenceToGraph(causal=True)) == "SequenceToGraph(causal=True, relative=False)"


def test_sequence_to_graph_batches_with_offsets():
    graphs = [SequenceToGraph()(Data(x=torch.randn(n, 2))) for n in (2, 3)]
    batch = Batch.from_data_list(graphs)
    assert torch.equal(batch.position, torch.tensor([0, 1, 0, 1, 2]))
    assert batch.edge_index.size(1) == 4 + 9 and int(batch.edge_index[:, 4:].min()) == 2


def test_sequence_to_graph_rejects_bad_input():
    with pytest.raises(ValueError, match="data.x"):
        SequenceToGraph()(Data(x=torch.randn(2, 3, 4)))


def test_sinusoidal_encoding_matches_formula():
    pe = sinusoidal_encoding(torch.tensor([0, 1, 7]), 6)
    for row, p in enumerate((0, 1, 7)):
        for k in range(3):
            angle = p / 10000 ** (2 * k / 6)
            assert pe[row, 2 * k].item() == pytest.approx(math.sin(angle), abs=1e-6)
            assert pe[row, 2 * k + 1].item() == pytest.approx(math.cos(angle), abs=1e-6)
    with pytest.raises(ValueError, match="even"):
        sinusoidal_encoding(torch.arange(3), 5)
