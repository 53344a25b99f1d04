"""Properties every local message-passing module must have, checked on all of them."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Batch, Data
from torch_geometric.nn import GATConv, GCNConv, TransformerConv
from torch_geometric.utils import scatter

from graphformers.local.base import PyGConv
from graphformers.local.gated_gcn import GatedGCN
from graphformers.local.gine import GINE
from graphformers.testing import (
    assert_batch_independent,
    assert_every_param_has_grad,
    assert_permutation_equivariant,
    assert_reset_changes_parameters,
    random_graph,
    tiny_graph,
)

C = 8
EDGE_DIM = 8  # GatedGCN needs edge width == C; GINE(edge_dim=4) is covered in test_gine.py

FACTORIES = {
    "gine": lambda: GINE(C),
    "gine_train_eps": lambda: GINE(C, edge_dim=4, train_eps=True),
    "gated_gcn": lambda: GatedGCN(C, dropout=0.1),
    "gcn": lambda: PyGConv(GCNConv(C, C)),
    "gat": lambda: PyGConv(GATConv(C, C // 2, heads=2, edge_dim=EDGE_DIM), channels=C),
    "transformer": lambda: PyGConv(TransformerConv(C, C // 2, heads=2, edge_dim=EDGE_DIM), channels=C),
}
REPRS = {
    "gine": "GINE(8, edge_dim=8, train_eps=False)",
    "gine_train_eps": "GINE(8, edge_dim=4, train_eps=True)",
    "gated_gcn": "GatedGCN(8, dropout=0.1, residual_edges=True)",
    "gcn": "PyGConv(GCNConv(8, 8))",
    "gat": "PyGConv(GATConv(8, 4, heads=2))",
    "transformer": "PyGConv(TransformerConv(8, 4, heads=2))",
}


def _edge_dim(module) -> int:
    return getattr(module, "edge_dim", EDGE_DIM)


def _graph(module, seed: int = 0) -> Data:
    return tiny_graph(channels=C, edge_dim=_edge_dim(module), seed=seed)


def _others(module) -> list[Data]:
    g = torch.Generator().manual_seed(3)
    return [random_graph(n, e, channels=C, edge_dim=_edge_dim(module), generator=g) for n, e in [(5, 6), (1, 0), (9, 14)]]


def _node_view(module):
    """Node outputs with the (possibly updated) edge outputs summed onto their target
    nodes, so one node-level check also covers the edge stream."""

    def fn(data: Data):
        x, e = module(data.x, data.edge_index, data.edge_attr)
        pooled = scatter(e, data.edge_index[1], dim=0, dim_size=data.num_nodes, reduce="sum")
        return torch.cat([x, pooled], dim=-1)

    return fn


def _warm_up(module) -> None:
    """One training-mode pass so BatchNorm running stats are not the identity, then eval."""
    batch = Batch.from_data_list([_graph(module, seed=s) for s in range(3)])
    module.train()
    module(batch.x, batch.edge_index, batch.edge_attr)
    module.eval()


@pytest.fixture(params=sorted(FACTORIES))
def name(request):
    return request.param


def test_repr(name):
    assert repr(FACTORIES[name]()) == REPRS[name]


def test_permutation_equivariant(name):
    module = FACTORIES[name]()
    _warm_up(module)
    assert_permutation_equivariant(_node_view(module), _graph(module))


def test_batch_independent(name):
    module = FACTORIES[name]()
    _warm_up(module)
    assert_batch_independent(_node_view(module), _graph(module), _others(module))


def test_every_param_has_grad(name):
    module = FACTORIES[name]()
    data = _graph(module)
    x, e = module(data.x, data.edge_index, data.edge_attr)
    loss = x.square().sum() + (e.square().sum() if module.uses_edge_attr else 0.0)
    assert_every_param_has_grad(module, loss)


def test_reset_changes_parameters(name):
    assert_reset_changes_parameters(FACTORIES[name]())


def test_edge_attr_passes_through_or_keeps_shape(name):
    module = FACTORIES[name]()
    data = _graph(module)
    _, e = module(data.x, data.edge_index, data.edge_attr)
    assert e.shape == (data.edge_index.size(1), module.edge_dim if hasattr(module, "edge_dim") else e.size(1))
    if not isinstance(module, GatedGCN):
        assert e is data.edge_attr


@pytest.mark.parametrize("num_nodes", [1, 4])
def test_graph_without_edges_is_finite(name, num_nodes):
    module = FACTORIES[name]().eval()
    x = torch.randn(num_nodes, C)
    ei = torch.empty(2, 0, dtype=torch.long)
    ea = torch.empty(0, _edge_dim(module))
    out, e = module(x, ei, ea)
    assert out.shape == (num_nodes, C) and torch.isfinite(out).all()
    assert e.shape == (0, _edge_dim(module))


def test_needs_edge_attr_flag_matches_conv(name):
    module = FACTORIES[name]()
    assert module.uses_edge_attr == (name != "gcn")


@pytest.mark.parametrize("name", ["gine", "gine_train_eps", "gated_gcn"])
def test_missing_edge_attr_names_argument(name):
    data = tiny_graph(channels=C)
    with pytest.raises(ValueError, match="'edge_attr'"):
        FACTORIES[name]()(data.x, data.edge_index)
