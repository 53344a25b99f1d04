"""MPNN and MPNN + virtual node: coupling of components, training, and model properties."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch_geometric.data import Batch, Data

from graphformers.heads import GraphHead, NodeHead
from graphformers.local.gated_gcn import GatedGCN
from graphformers.local.gine import GINE
from graphformers.models.mpnn import MPNN
from graphformers.testing import (
    assert_batch_independent,
    assert_every_param_has_grad,
    assert_permutation_equivariant,
    assert_reset_changes_parameters,
    random_graph,
    tiny_batch,
    tiny_graph,
)

C = 16


def _model(virtual_node: bool, head: nn.Module | None = None, num_layers: int = 3, local=GINE) -> MPNN:
    return MPNN(
        nn.Linear(8, C),
        [local(C) for _ in range(num_layers)],
        head if head is not None else GraphHead(C, 2),
        edge_encoder=nn.Linear(4, C),
        virtual_node=virtual_node,
        dropout=0.1,
    )


def _warm(model: MPNN) -> MPNN:
    model.train()(tiny_batch(8, 4, seed=5))
    return model.eval()


def _two_components() -> Data:
    """Two triangles with no edge between them: {0, 1, 2} and {3, 4, 5}."""
    ei = torch.tensor([[0, 1, 1, 2, 2, 0, 3, 4, 4, 5, 5, 3], [1, 0, 2, 1, 0, 2, 4, 3, 5, 4, 3, 5]])
    return Data(x=torch.randn(6, 8), edge_index=ei, edge_attr=torch.randn(12, 4), num_nodes=6)


@pytest.mark.parametrize("virtual_node", [False, True])
def test_virtual_node_couples_disconnected_components(virtual_node):
    model = _warm(_model(virtual_node, head=NodeHead(C, 2)))
    data = _two_components()
    out = model(data)
    data2 = data.clone()
    data2.x[3:] += 2.0  # change only the second component
    out2 = model(data2)
    first_changed = not torch.allclose(out[:3], out2[:3], atol=1e-6)
    assert first_changed == virtual_node


def test_virtual_node_changes_the_output_with_shared_weights():
    plain, with_vn = _model(False), _model(True)
    missing, unexpected = with_vn.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and all(k.startswith("virtual_nodes.") for k in missing)
    data = Batch.from_data_list([_two_components(), tiny_graph(8, 4)])
    plain.eval(), with_vn.eval()
    # a nonzero VN start state makes the VN matter from the first broadcast on
    with torch.no_grad():
        for vn in with_vn.virtual_nodes:
            vn.initial.fill_(0.5)
    assert not torch.allclose(plain(data), with_vn(data), atol=1e-4)


@pytest.mark.parametrize("virtual_node", [False, True])
def test_training_lowers_the_loss(virtual_node):
    torch.manual_seed(0)
    model = _model(virtual_node, num_layers=2)
    batch = tiny_batch(8, 4, seed=1)
    target = torch.randn(batch.num_graphs, 2)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = (model(batch) - target).square().mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0], losses


@pytest.mark.parametrize("virtual_node", [False, True])
def test_invariant_and_batch_independent(virtual_node):
    model = _warm(_model(virtual_node))
    assert_permutation_equivariant(model, tiny_graph(8, 4), node_level=False)
    g = torch.Generator().manual_seed(4)
    others = [random_graph(n, m, channels=8, edge_dim=4, generator=g) for n, m in [(5, 7), (1, 0), (9, 12)]]
    assert_batch_independent(model, tiny_graph(8, 4), others, node_level=False)


def test_gated_gcn_layers_update_edges_between_layers():
    model = _warm(_model(True, local=GatedGCN))
    assert_permutation_equivariant(model, tiny_graph(8, 4), node_level=False)


def test_every_param_has_grad_and_reset():
    model = _model(True)
    out = model(tiny_batch(8, 4))
    assert_every_param_has_grad(model, out.square().sum())
    assert_reset_changes_parameters(model)


def test_repr():
    model = MPNN(nn.Linear(8, 4), [GINE(4), GINE(4)], GraphHead(4, 1), virtual_node=True)
    assert repr(model) == (
        "MPNN(4, num_layers=2, layer=GINE(4, edge_dim=4, train_eps=False), virtual_node=True, dropout=0.0)"
    )
    assert len(model.virtual_nodes) == 1


def test_ogb_atom_and_bond_encoders_on_molecules():
    pytest.importorskip("rdkit")
    from ogb.graphproppred.mol_encoder import AtomEncoder, BondEncoder
    from ogb.utils import smiles2graph

    graphs = []
    for smiles in ["CCO", "c1ccccc1O", "C"]:  # methane: a single node without edges
        g = smiles2graph(smiles)
        graphs.append(
            Data(
                x=torch.from_numpy(g["node_feat"]),
                edge_index=torch.from_numpy(g["edge_index"]),
                edge_attr=torch.from_numpy(g["edge_feat"]),
                num_nodes=g["num_nodes"],
            )
        )
    model = MPNN(
        AtomEncoder(C), [GINE(C) for _ in range(2)], GraphHead(C, 1), edge_encoder=BondEncoder(C), virtual_node=True
    )
    out = model.eval()(Batch.from_data_list(graphs))
    assert out.shape == (3, 1) and torch.isfinite(out).all()
    assert_reset_changes_parameters(model)


def test_graphs_without_edges_and_single_nodes():
    model = _warm(_model(True))
    graphs = [random_graph(1, 0, channels=8, edge_dim=4), random_graph(4, 0, channels=8, edge_dim=4)]
    out = model(Batch.from_data_list(graphs))
    assert out.shape == (2, 2) and torch.isfinite(out).all()


def test_bad_input():
    model = _model(False)
    data = tiny_graph(8)  # no edge_attr, GINE needs it
    with pytest.raises(ValueError, match="'edge_attr'"):
        model(data)
    with pytest.raises(ValueError, match="'node_encoder' outputs shape"):
        MPNN(nn.Linear(8, 5), [GINE(C)], GraphHead(C, 1))(tiny_graph(8, 4))
    with pytest.raises(ValueError, match="same width"):
        MPNN(nn.Linear(8, C), [GINE(C), GINE(8)], GraphHead(C, 1))
    with pytest.raises(ValueError, match="at least one layer"):
        MPNN(nn.Linear(8, C), [], GraphHead(C, 1))


def test_trains_on_a_batch_of_one_single_node_graph():
    # the last mini-batch of an epoch may hold one graph (one VN row) or one atom
    model = _model(True).train()
    for graph in (tiny_graph(8, 4), random_graph(1, 0, channels=8, edge_dim=4)):
        out = model(Batch.from_data_list([graph]))
        out.sum().backward()
        assert torch.isfinite(out).all()


def test_virtual_node_on_a_data_with_a_batch_vector_but_no_graph_count():
    """A plain ``Data`` carrying ``batch`` (no ``num_graphs``): the graph count comes from
    the batch vector, and the output equals the ``Batch``'s."""
    model = _warm(_model(virtual_node=True))
    batch = Batch.from_data_list([random_graph(5, 8, channels=8, edge_dim=4), random_graph(4, 6, channels=8, edge_dim=4)])
    plain = Data(x=batch.x, edge_index=batch.edge_index, edge_attr=batch.edge_attr, batch=batch.batch)
    assert not hasattr(plain, "num_graphs") or "num_graphs" not in plain.keys()
    torch.testing.assert_close(model(plain), model(batch))


def test_encoder_inputs_checked_with_clear_errors():
    """OGB's AtomEncoder/BondEncoder read 9 / 3 integer columns: another width or float
    features are an error naming the attribute, not an index error deep in an embedding."""
    from ogb.graphproppred.mol_encoder import AtomEncoder, BondEncoder

    from graphformers.utils.checks import expected_input_width

    assert expected_input_width(AtomEncoder(8)) == 9 and expected_input_width(BondEncoder(8)) == 3
    assert expected_input_width(nn.Linear(5, 2)) == 5 and expected_input_width(nn.ReLU()) is None
    model = MPNN(AtomEncoder(16), [GINE(16, edge_dim=16) for _ in range(2)], GraphHead(16, 1),
                 edge_encoder=BondEncoder(16))
    ei = torch.tensor([[0, 1], [1, 0]])
    good = Data(x=torch.zeros(2, 9, dtype=torch.long), edge_index=ei, edge_attr=torch.zeros(2, 3, dtype=torch.long))
    assert model(Batch.from_data_list([good])).shape == (1, 1)
    fewer = Data(x=torch.zeros(2, 8, dtype=torch.long), edge_index=ei, edge_attr=good.edge_attr)
    assert model(Batch.from_data_list([fewer])).shape == (1, 1)  # OGB's encoders allow fewer columns
    with pytest.raises(ValueError, match="data.x has 10 feature columns, but the encoder AtomEncoder has only 9"):
        model(Batch.from_data_list([Data(x=torch.zeros(2, 10, dtype=torch.long), edge_index=ei,
                                         edge_attr=good.edge_attr)]))
    with pytest.raises(ValueError, match="data.x must hold integer category ids for AtomEncoder"):
        model(Batch.from_data_list([Data(x=torch.zeros(2, 9), edge_index=ei, edge_attr=good.edge_attr)]))
    with pytest.raises(ValueError, match="data.edge_attr has 4 feature columns, but the encoder BondEncoder has only 3"):
        model(Batch.from_data_list([Data(x=good.x, edge_index=ei, edge_attr=torch.zeros(2, 4, dtype=torch.long))]))


def test_lazy_encoders_are_not_checked():
    """A lazy node encoder (nn.LazyLinear, width unknown until the first call) still works."""
    from graphformers.local.gine import GIN

    model = MPNN(nn.LazyLinear(16), [GIN(16) for _ in range(2)], GraphHead(16, 1))
    data = Data(x=torch.randn(3, 5), edge_index=torch.tensor([[0, 1], [1, 2]]))
    assert model(Batch.from_data_list([data])).shape == (1, 1)
