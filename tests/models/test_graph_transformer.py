"""GraphTransformer model: LapPE added to the input, edge channel, model properties."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch_geometric.data import Batch, Data

from graphformers.heads import GraphHead, NodeHead
from graphformers.models.graph_transformer import GraphTransformer
from graphformers.testing import (
    assert_batch_independent,
    assert_every_param_has_grad,
    assert_permutation_equivariant,
    assert_reset_changes_parameters,
    random_graph,
    tiny_batch,
    tiny_graph,
)
from graphformers.transforms.positional import AddLaplacianPE

C, K = 16, 3
lap = AddLaplacianPE(K)


class EigvecPE(nn.Module):
    """A minimal PE encoder: a linear map of ``data.lap_eigvec``."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(K, C)

    def reset_parameters(self) -> None:
        self.lin.reset_parameters()

    def forward(self, data: Data) -> torch.Tensor:
        return self.lin(data.lap_eigvec)


class RawEigvec(nn.Module):
    """A PE encoder of the wrong width (K instead of C)."""

    def forward(self, data: Data) -> torch.Tensor:
        return data.lap_eigvec


def _model(edges: bool = True, pe: nn.Module | None = None, head: nn.Module | None = None) -> GraphTransformer:
    return GraphTransformer(
        nn.Linear(8, C),
        C,
        4,
        2,
        head if head is not None else GraphHead(C, 2),
        edge_encoder=nn.Linear(4, C) if edges else None,
        pe_encoder=pe if pe is not None else EigvecPE(),
        dropout=0.1,
        input_dropout=0.1,
    )


def _warm(model: GraphTransformer) -> GraphTransformer:
    model.train()(Batch.from_data_list([lap(tiny_graph(8, 4, seed=s)) for s in range(3)]))
    return model.eval()


def _others() -> list[Data]:
    g = torch.Generator().manual_seed(6)
    return [lap(random_graph(n, m, channels=8, edge_dim=4, generator=g)) for n, m in [(5, 6), (1, 0), (10, 16)]]


@pytest.mark.parametrize("edges", [False, True])
def test_invariant_and_batch_independent(edges):
    model = _warm(_model(edges))
    graph = lap(tiny_graph(8, 4))  # PE computed once, then permuted with the nodes
    assert_permutation_equivariant(model, graph, node_level=False)
    assert_batch_independent(model, graph, _others(), node_level=False)


def test_node_head_is_equivariant():
    model = _warm(_model(True, head=NodeHead(C, 3)))
    assert_permutation_equivariant(model, lap(tiny_graph(8, 4)))


def test_laplacian_pe_is_added_to_the_input():
    model = _warm(_model(True))
    data = lap(tiny_graph(8, 4))
    torch.testing.assert_close(
        model._embed_input(data), model.node_encoder(data.x) + model.pe_encoder(data)
    )
    changed = data.clone()
    changed.lap_eigvec = -changed.lap_eigvec
    assert not torch.allclose(model(data), model(changed))


def test_edge_channel_is_used_only_with_an_edge_encoder():
    data = lap(tiny_graph(8, 4))
    shifted = data.clone()
    shifted.edge_attr = data.edge_attr + 1.0
    with_edges, without = _warm(_model(True)), _warm(_model(False))
    assert not torch.allclose(with_edges(data), with_edges(shifted))
    torch.testing.assert_close(without(data), without(shifted))
    assert with_edges.layers[0].edge_dim == C and without.layers[0].edge_dim is None
    assert [layer.update_edges for layer in with_edges.layers] == [True, False]


def test_every_param_has_grad_and_reset():
    model = _model(True)
    out = model(Batch.from_data_list([lap(tiny_graph(8, 4, seed=s)) for s in range(2)]))
    assert_every_param_has_grad(model, out.square().sum())
    assert_reset_changes_parameters(model)


def test_training_lowers_the_loss():
    torch.manual_seed(0)
    model = _model(True)
    batch = Batch.from_data_list([lap(g) for g in tiny_batch(8, 4, seed=2).to_data_list()])
    target = torch.randn(batch.num_graphs, 2)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(25):
        opt.zero_grad()
        loss = (model(batch) - target).square().mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0], losses


def test_with_the_library_lap_pe_encoder():
    laplacian = pytest.importorskip("graphformers.encodings.laplacian")
    model = _warm(_model(True, pe=laplacian.LinearLapPE(K, C)))
    out = model(Batch.from_data_list(_others()))
    assert out.shape == (3, 2) and torch.isfinite(out).all()


def test_single_nodes_and_edgeless_graphs_are_finite():
    model = _warm(_model(True))
    graphs = [lap(random_graph(1, 0, channels=8, edge_dim=4)), lap(random_graph(3, 0, channels=8, edge_dim=4))]
    out = model(Batch.from_data_list(graphs))
    assert out.shape == (2, 2) and torch.isfinite(out).all()


def test_repr():
    model = GraphTransformer(nn.Linear(8, 8), 8, 2, 3, GraphHead(8, 1), edge_encoder=nn.Linear(4, 8))
    assert repr(model) == "GraphTransformer(8, heads=2, num_layers=3, edge_dim=8, pe=False, dropout=0.0)"


def test_bad_input():
    data = lap(tiny_graph(8))  # no edge_attr
    with pytest.raises(ValueError, match="'edge_attr'"):
        _model(True)(data)
    with pytest.raises(ValueError, match="'pe_encoder' outputs shape"):
        GraphTransformer(nn.Linear(8, C), C, 2, 1, GraphHead(C, 1), pe_encoder=RawEigvec())(
            lap(tiny_graph(8, 4))
        )
    with pytest.raises(ValueError, match="'node_encoder' outputs shape"):
        GraphTransformer(nn.Linear(8, 5), C, 2, 1, GraphHead(C, 1))(tiny_graph(8, 4))
    with pytest.raises(ValueError, match="'num_layers'"):
        GraphTransformer(nn.Linear(8, C), C, 2, 0, GraphHead(C, 1))


def test_trains_on_a_batch_of_one_single_node_graph():
    model = _model(True).train()
    out = model(Batch.from_data_list([lap(random_graph(1, 0, channels=8, edge_dim=4))]))
    out.sum().backward()
    assert torch.isfinite(out).all()
