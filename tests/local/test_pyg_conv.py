"""PyGConv forwards exactly what the wrapped PyG conv computes."""

from __future__ import annotations

import torch
from torch_geometric.nn import GATConv, GCNConv, TransformerConv

from graphformers.local.base import PyGConv
from graphformers.testing import tiny_graph


def test_gcn_ignores_edge_attr_and_matches_conv():
    data = tiny_graph(channels=8, edge_dim=4)
    conv = GCNConv(8, 8)
    local = PyGConv(conv)
    assert local.channels == 8 and not local.uses_edge_attr
    out, e = local(data.x, data.edge_index, data.edge_attr)
    torch.testing.assert_close(out, conv(data.x, data.edge_index))
    assert e is data.edge_attr


def test_gat_with_edge_dim_uses_edge_attr():
    data = tiny_graph(channels=8, edge_dim=4)
    conv = GATConv(8, 4, heads=2, edge_dim=4)
    local = PyGConv(conv, channels=8)
    assert local.uses_edge_attr
    out, _ = local(data.x, data.edge_index, data.edge_attr)
    torch.testing.assert_close(out, conv(data.x, data.edge_index, edge_attr=data.edge_attr))
    # the edge features really reach the conv
    out2, _ = local(data.x, data.edge_index, data.edge_attr + 1.0)
    assert not torch.allclose(out, out2)


def test_transformer_conv_with_edges():
    data = tiny_graph(channels=8, edge_dim=4)
    conv = TransformerConv(8, 2, heads=4, edge_dim=4)
    local = PyGConv(conv, channels=8)
    out, _ = local(data.x, data.edge_index, data.edge_attr)
    assert out.shape == (6, 8)
    torch.testing.assert_close(out, conv(data.x, data.edge_index, edge_attr=data.edge_attr))
