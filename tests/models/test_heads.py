"""graphformers.heads: one output row per graph, trailing empty graphs included when num_graphs is given."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Batch, Data

from graphformers.heads import GraphHead, NodeHead


def _graph(n: int) -> Data:
    return Data(x=torch.randn(n, 4), edge_index=torch.empty(2, 0, dtype=torch.long), num_nodes=n)


@pytest.mark.parametrize("pool", ["mean", "add", "max"])
def test_trailing_empty_graph_keeps_its_row(pool):
    torch.manual_seed(0)
    g1, g2 = _graph(3), _graph(5)
    b = Batch.from_data_list([g1, g2, _graph(0)])
    head = GraphHead(4, 2, pool=pool).eval()
    out = head(b.x, b.batch, num_graphs=b.num_graphs)
    assert out.shape == (3, 2)
    torch.testing.assert_close(out[:2], head(b.x, b.batch))
    torch.testing.assert_close(out[2:], head.mlp(torch.zeros(1, 4)))


def test_num_graphs_checks():
    b = Batch.from_data_list([_graph(2), _graph(2)])
    head = GraphHead(4, 1)
    with pytest.raises(ValueError, match="num_graphs=1"):
        head(b.x, b.batch, num_graphs=1)
    with pytest.raises(ValueError, match="num_graphs must be"):
        head(b.x, b.batch, num_graphs=0)
    assert head(b.x[:0], None, num_graphs=1).shape == (1, 1)


def test_node_head_accepts_num_graphs():
    x = torch.randn(5, 4)
    head = NodeHead(4, 3)
    torch.testing.assert_close(head(x, None, num_graphs=2), head(x))


def test_models_keep_the_row_of_a_trailing_empty_graph():
    """GraphGPS, MPNN and the Graph Transformer read out through ``read_out``, which passes
    ``num_graphs``: a batch ending in a graph without nodes gives one row per graph, and
    the other rows are those of the batch without it."""
    from torch_geometric.data import Batch, Data

    from graphformers.models.factory import build_model, build_transforms
    from graphformers.testing import random_graph

    base = {"channels": 16, "num_layers": 2, "node_encoder": {"name": "linear", "in_channels": 8},
            "edge_encoder": {"name": "linear", "in_channels": 4}, "head": {"level": "graph", "pool": "mean"}}
    configs = [
        {"model": {**base, "name": "gps", "local": {"name": "gine"}, "attention": {"name": "full", "heads": 4}}},
        {"model": {**base, "name": "mpnn", "local": {"name": "gine"}, "virtual_node": True}},
        {"model": {**base, "name": "graph_transformer", "heads": 4,
                   "pe": [{"name": "lap_linear", "k": 2, "channels": 16}]}},
    ]
    g = torch.Generator().manual_seed(0)
    for config in configs:
        model = build_model(config, out_channels=3).eval()
        graphs = [random_graph(n, 2 * n, channels=8, edge_dim=4, generator=g) for n in (5, 7)]
        empty = Data(x=torch.zeros(0, 8), edge_index=torch.zeros(2, 0, dtype=torch.long),
                     edge_attr=torch.zeros(0, 4), num_nodes=0)
        for t in build_transforms(config):
            graphs = [t(d) for d in graphs]
            empty = t(empty)
        out = model(Batch.from_data_list([*graphs, empty]))
        assert out.shape == (3, 3), config["model"]["name"]
        torch.testing.assert_close(out[:2], model(Batch.from_data_list(graphs)))
