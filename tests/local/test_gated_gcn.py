"""GatedGCN against the formula written out with Python loops."""

from __future__ import annotations

import pytest
import torch

from graphformers.local.gated_gcn import GatedGCN
from graphformers.testing import tiny_graph


def _bn_eval(bn, v: torch.Tensor) -> torch.Tensor:
    bn = bn.module  # torch_geometric.nn.BatchNorm wraps a BatchNorm1d
    return (v - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps) * bn.weight + bn.bias


def _reference(m: GatedGCN, x, edge_index, e) -> tuple[torch.Tensor, torch.Tensor]:
    """h_i' = relu(bn(A h_i + sum_j s_ij * B h_j / (sum_j s_ij + eps))), s_ij = sigmoid(C e_ij + D h_i + E h_j)."""
    n, c = x.shape
    lin = lambda layer, v: layer.weight @ v + layer.bias  # noqa: E731
    h_out = torch.zeros(n, c)
    e_out = torch.zeros(edge_index.size(1), c)
    for i in range(n):
        num = torch.zeros(c)
        den = torch.zeros(c)
        for k in range(edge_index.size(1)):
            j, tgt = int(edge_index[0, k]), int(edge_index[1, k])
            if tgt != i:
                continue
            e_hat = lin(m.C, e[k]) + lin(m.D, x[i]) + lin(m.E, x[j])
            s = torch.sigmoid(e_hat)
            num = num + s * lin(m.B, x[j])
            den = den + s
            e_out[k] = e[k] + torch.relu(_bn_eval(m.bn_edge, e_hat))
        h_out[i] = torch.relu(_bn_eval(m.bn_node, lin(m.A, x[i]) + num / (den + 1e-6)))
    return h_out, e_out


def _randomise_batchnorm(m: GatedGCN) -> None:
    with torch.no_grad():
        for bn in (m.bn_node.module, m.bn_edge.module):
            bn.running_mean.normal_()
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.normal_()
            bn.bias.normal_()


def test_matches_loop_reference_on_four_nodes():
    # directed edges with one node (3) having a single in-neighbour and node 0 three
    edge_index = torch.tensor([[1, 2, 3, 0, 0, 2, 1], [0, 0, 0, 1, 2, 1, 3]])
    x = torch.randn(4, 5)
    e = torch.randn(7, 5)
    m = GatedGCN(5).eval()
    _randomise_batchnorm(m)
    h, e_new = m(x, edge_index, e)
    h_ref, e_ref = _reference(m, x, edge_index, e)
    torch.testing.assert_close(h, h_ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(e_new, e_ref, atol=1e-5, rtol=1e-5)


def test_without_edge_residual():
    data = tiny_graph(channels=4, edge_dim=4)
    m = GatedGCN(4).eval()
    _, e_res = m(data.x, data.edge_index, data.edge_attr)
    m.residual_edges = False
    _, e_plain = m(data.x, data.edge_index, data.edge_attr)
    torch.testing.assert_close(e_res - e_plain, data.edge_attr)


def test_isolated_node_gets_only_its_own_term():
    # node 2 has no in-edges: h_2' = relu(bn(A h_2))
    m = GatedGCN(3).eval()
    x = torch.randn(3, 3)
    h, _ = m(x, torch.tensor([[0], [1]]), torch.randn(1, 3))
    torch.testing.assert_close(h[2], torch.relu(m.bn_node(m.A(x[2:3])))[0])



def test_edge_width_must_equal_channels():
    data = tiny_graph(channels=8, edge_dim=4)
    with pytest.raises(ValueError, match=r"'edge_attr' must have shape \[\*, 8\]"):
        GatedGCN(8)(data.x, data.edge_index, data.edge_attr)


def test_trains_on_a_single_node_and_a_single_edge():
    m = GatedGCN(4).train()
    h, e = m(torch.randn(2, 4), torch.tensor([[0], [1]]), torch.randn(1, 4))
    assert torch.isfinite(h).all() and torch.isfinite(e).all()


def test_dropout_only_in_training():
    data = tiny_graph(channels=8, edge_dim=8)
    m = GatedGCN(8, dropout=0.9).eval()
    a, _ = m(data.x, data.edge_index, data.edge_attr)
    b, _ = m(data.x, data.edge_index, data.edge_attr)
    torch.testing.assert_close(a, b)
    m.train()
    c, _ = m(data.x, data.edge_index, data.edge_attr)
    assert (c == 0).float().mean() > 0.8  # ReLU alone zeroes about half
