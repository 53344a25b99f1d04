"""VirtualNode: hand-checked update, per-graph isolation and the layer properties."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Batch

from graphformers.blocks.virtual_node import VirtualNode
from graphformers.testing import (
    assert_batch_independent,
    assert_every_param_has_grad,
    assert_permutation_equivariant,
    assert_reset_changes_parameters,
    random_graph,
    tiny_graph,
)


def _warm(vn: VirtualNode) -> VirtualNode:
    b = Batch.from_data_list([tiny_graph(8, seed=s) for s in range(4)])
    vn.train()(b.x, b.batch)
    return vn.eval()


def test_hand_computed_update():
    vn = VirtualNode(3, norm=None)
    with torch.no_grad():
        vn.initial.copy_(torch.tensor([1.0, 0.0, -1.0]))
    x = torch.randn(5, 3)
    batch = torch.tensor([0, 0, 1, 1, 1])
    out, state = vn(x, batch)
    l1, l2 = vn.mlp[0], vn.mlp[3]
    for g, rows in ((0, [0, 1]), (1, [2, 3, 4])):
        s = torch.relu(l2(torch.relu(l1(x[rows].sum(0) + vn.initial))))
        torch.testing.assert_close(state[g], s)
        torch.testing.assert_close(out[rows], x[rows] + s)
    # the returned state is the next call's starting point
    out2, state2 = vn(out, batch, state)
    s0 = torch.relu(l2(torch.relu(l1(out[:2].sum(0) + state[0]))))
    torch.testing.assert_close(state2[0], s0)


def test_no_information_between_graphs_of_a_batch():
    vn = _warm(VirtualNode(8, dropout=0.2))
    b = Batch.from_data_list([tiny_graph(8, seed=0), tiny_graph(8, seed=1)])
    out, _ = vn(b.x, b.batch)
    x2 = b.x.clone()
    x2[b.batch == 1] += 5.0
    out2, _ = vn(x2, b.batch)
    first = b.batch == 0
    torch.testing.assert_close(out2[first], out[first])
    assert not torch.allclose(out2[~first], out[~first])


def test_every_node_of_a_graph_sees_every_other():
    vn = _warm(VirtualNode(8))
    g = tiny_graph(8)
    out, _ = vn(g.x, None)
    x2 = g.x.clone()
    x2[5] += 3.0
    out2, _ = vn(x2, None)
    assert ((out2 - out).abs().sum(-1)[:5] > 1e-6).all()


def test_batch_independent_and_equivariant():
    vn = _warm(VirtualNode(8))
    fn = lambda d: vn(d.x, getattr(d, "batch", None))[0]  # noqa: E731
    g = torch.Generator().manual_seed(2)
    assert_batch_independent(fn, tiny_graph(8), [random_graph(n, 3, generator=g) for n in (4, 1, 7)])
    assert_permutation_equivariant(fn, tiny_graph(8))


def test_every_param_has_grad_and_reset():
    vn = VirtualNode(8)
    b = Batch.from_data_list([tiny_graph(8, seed=s) for s in range(3)])
    out, state = vn(b.x, b.batch)
    assert_every_param_has_grad(vn, out.square().sum() + state.sum())
    assert_reset_changes_parameters(vn)
    assert torch.equal(vn.initial, torch.zeros(8))


def test_empty_trailing_graph_and_single_node():
    vn = _warm(VirtualNode(8))
    out, state = vn(torch.randn(1, 8), torch.tensor([0]), num_graphs=2)
    assert state.shape == (2, 8) and torch.isfinite(out).all()


def test_repr_and_bad_input():
    assert repr(VirtualNode(8, dropout=0.1)) == "VirtualNode(8, dropout=0.1)"
    vn = VirtualNode(8)
    with pytest.raises(ValueError, match=r"'x' must have shape \[N, 8\]"):
        vn(torch.randn(3, 4))
    with pytest.raises(ValueError, match=r"'state' must have shape \[1, 8\]"):
        vn(torch.randn(3, 8), None, torch.zeros(2, 8))
