"""GraphTransformerLayer: dense references, locality, and the layer properties."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.data import Batch, Data
from torch_geometric.nn import GraphNorm

from graphformers.blocks.graph_transformer import GraphTransformerLayer
from graphformers.testing import (
    assert_batch_independent,
    assert_every_param_has_grad,
    assert_permutation_equivariant,
    assert_reset_changes_parameters,
    random_graph,
    tiny_graph,
)


def _complete_graph(n: int) -> torch.Tensor:
    idx = torch.arange(n)
    src, dst = torch.meshgrid(idx, idx, indexing="ij")
    keep = src != dst
    return torch.stack([src[keep], dst[keep]])


def _ffn(ffn, x):
    return ffn.lin2(torch.relu(ffn.lin1(x)))


def test_complete_graph_equals_dense_masked_attention():
    n, c, h = 5, 8, 2
    d = c // h
    x = torch.randn(n, c)
    layer = GraphTransformerLayer(c, h, norm=nn.LayerNorm).eval()
    out, e = layer(x, _complete_graph(n))
    assert e is None

    # dense reference: every node attends to every other node (diagonal masked out)
    q = (x @ layer.Q.weight.T).view(n, h, d).transpose(0, 1)  # [H, N, d]
    k = (x @ layer.K.weight.T).view(n, h, d).transpose(0, 1)
    v = (x @ layer.V.weight.T).view(n, h, d).transpose(0, 1)
    scores = q @ k.transpose(1, 2) / math.sqrt(d)  # [H, N(i), N(j)]
    scores = scores.masked_fill(torch.eye(n, dtype=torch.bool), float("-inf"))
    attn = torch.softmax(scores, dim=-1) @ v  # [H, N, d]
    attn = attn.transpose(0, 1).reshape(n, c) @ layer.O_h.weight.T + layer.O_h.bias
    ln1, ln2 = layer.norm1.norm, layer.norm2.norm
    h1 = F.layer_norm(x + attn, (c,), ln1.weight, ln1.bias)
    expected = F.layer_norm(h1 + _ffn(layer.ffn, h1), (c,), ln2.weight, ln2.bias)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


def test_edge_variant_matches_loop_reference():
    # 4 nodes, edges j -> i listed by hand; node 3 has one in-neighbour
    ei = torch.tensor([[1, 2, 3, 0, 2, 0], [0, 0, 0, 1, 1, 3]])
    c, h, ed = 6, 2, 3
    d = c // h
    x, ea = torch.randn(4, c), torch.randn(6, ed)
    layer = GraphTransformerLayer(c, h, edge_dim=ed, norm=None).eval()
    out, e_out = layer(x, ei, ea)

    Q, K, V, E = (m.weight for m in (layer.Q, layer.K, layer.V, layer.E))
    w_hat = {}
    for k in range(ei.size(1)):
        j, i = int(ei[0, k]), int(ei[1, k])
        w_hat[k] = (Q @ x[i]) * (K @ x[j]) / math.sqrt(d) * (E @ ea[k])  # [C], heads contiguous
    expected = torch.zeros(4, c)
    for i in range(4):
        ks = [k for k in range(ei.size(1)) if int(ei[1, k]) == i]
        agg = torch.zeros(c)
        for head in range(h):
            sl = slice(head * d, (head + 1) * d)
            logits = torch.stack([w_hat[k][sl].sum() for k in ks]) if ks else torch.zeros(0)
            weights = torch.softmax(logits, 0)
            for wgt, k in zip(weights, ks):
                agg[sl] += wgt * (V @ x[int(ei[0, k])])[sl]
        h1 = x[i] + layer.O_h(agg)
        expected[i] = h1 + _ffn(layer.ffn, h1)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    e1 = ea + layer.O_e(torch.stack([w_hat[k] for k in range(6)]))
    torch.testing.assert_close(e_out, e1 + _ffn(layer.ffn_e, e1), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("edge_dim", [None, 4])
def test_attention_never_crosses_edges(edge_dim):
    data = tiny_graph(channels=8, edge_dim=4)  # 0-1-2-3-0 cycle, 3-4-5 path
    layer = GraphTransformerLayer(8, 2, edge_dim=edge_dim).eval()
    out, _ = layer(data.x, data.edge_index, data.edge_attr)
    x2 = data.x.clone()
    x2[5] += 10.0  # node 5 neighbours only node 4
    out2, _ = layer(x2, data.edge_index, data.edge_attr)
    changed = (out2 - out).abs().sum(-1) > 1e-6
    assert changed.tolist() == [False, False, False, False, True, True]


def _layer(edge_dim):
    return GraphTransformerLayer(8, 2, edge_dim=edge_dim, dropout=0.1)


def _view(layer):
    def fn(data: Data):
        x, e = layer(data.x, data.edge_index, data.edge_attr, getattr(data, "batch", None))
        if layer.edge_dim is None:
            return x
        pooled = torch.zeros(data.num_nodes, e.size(1)).index_add_(0, data.edge_index[1], e)
        return torch.cat([x, pooled], -1)

    return fn


def _warm(layer, edge_dim):
    layer.train()
    b = Batch.from_data_list([tiny_graph(8, edge_dim or 4, seed=s) for s in range(3)])
    layer(b.x, b.edge_index, b.edge_attr)
    return layer.eval()


@pytest.mark.parametrize("edge_dim", [None, 4])
def test_permutation_equivariant(edge_dim):
    layer = _warm(_layer(edge_dim), edge_dim)
    assert_permutation_equivariant(_view(layer), tiny_graph(8, 4))


@pytest.mark.parametrize("edge_dim", [None, 4])
@pytest.mark.parametrize("norm", [nn.BatchNorm1d, GraphNorm])
def test_batch_independent(edge_dim, norm):
    layer = GraphTransformerLayer(8, 2, edge_dim=edge_dim, norm=norm)
    layer = _warm(layer, edge_dim)
    g = torch.Generator().manual_seed(7)
    others = [random_graph(n, m, channels=8, edge_dim=4, generator=g) for n, m in [(4, 5), (1, 0), (10, 18)]]
    assert_batch_independent(_view(layer), tiny_graph(8, 4), others)


@pytest.mark.parametrize("edge_dim", [None, 4])
def test_every_param_has_grad(edge_dim):
    layer = _layer(edge_dim)
    data = tiny_graph(8, 4)
    x, e = layer(data.x, data.edge_index, data.edge_attr)
    assert_every_param_has_grad(layer, x.square().sum() + e.square().sum())


@pytest.mark.parametrize("edge_dim", [None, 4])
def test_reset_changes_parameters(edge_dim):
    assert_reset_changes_parameters(GraphTransformerLayer(8, 2, edge_dim=edge_dim, norm=nn.LayerNorm))


def test_repr():
    assert repr(GraphTransformerLayer(8, 2)) == "GraphTransformerLayer(8, heads=2, edge_dim=None, dropout=0.0)"
    assert repr(GraphTransformerLayer(16, 4, edge_dim=4, dropout=0.1)) == (
        "GraphTransformerLayer(16, heads=4, edge_dim=4, dropout=0.1)"
    )


def test_without_edge_update():
    data = tiny_graph(8, 4)
    full = GraphTransformerLayer(8, 2, edge_dim=4).eval()
    last = GraphTransformerLayer(8, 2, edge_dim=4, update_edges=False).eval()
    last.load_state_dict(full.state_dict(), strict=False)
    x_full, _ = full(data.x, data.edge_index, data.edge_attr)
    x_last, e = last(data.x, data.edge_index, data.edge_attr)
    torch.testing.assert_close(x_last, x_full)
    assert e is data.edge_attr and not hasattr(last, "O_e")
    assert repr(last) == "GraphTransformerLayer(8, heads=2, edge_dim=4, dropout=0.0, update_edges=False)"


def test_edge_free_layer_passes_edge_attr_through():
    data = tiny_graph(8, 4)
    _, e = GraphTransformerLayer(8, 2)(data.x, data.edge_index, data.edge_attr)
    assert e is data.edge_attr


@pytest.mark.parametrize("num_nodes", [1, 3])
@pytest.mark.parametrize("edge_dim", [None, 4])
def test_no_edges_and_single_node_are_finite(num_nodes, edge_dim):
    layer = GraphTransformerLayer(8, 2, edge_dim=edge_dim).eval()
    ea = torch.empty(0, 4) if edge_dim else None
    x, e = layer(torch.randn(num_nodes, 8), torch.empty(2, 0, dtype=torch.long), ea)
    assert torch.isfinite(x).all() and x.shape == (num_nodes, 8)
    if edge_dim:
        assert e.shape == (0, 4)


def test_bad_input_errors():
    data = tiny_graph(8, 4)
    with pytest.raises(ValueError, match="'edge_attr'"):
        GraphTransformerLayer(8, 2, edge_dim=4)(data.x, data.edge_index)
    with pytest.raises(ValueError, match=r"'edge_attr' must have shape \[12, 3\]"):
        GraphTransformerLayer(8, 2, edge_dim=3)(data.x, data.edge_index, data.edge_attr)
    with pytest.raises(ValueError, match=r"'x' must have shape \[N, 16\]"):
        GraphTransformerLayer(16, 2)(data.x, data.edge_index)
    with pytest.raises(ValueError, match="divisible by 'heads'"):
        GraphTransformerLayer(8, 3)
