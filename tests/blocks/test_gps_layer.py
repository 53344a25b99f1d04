import pytest
import torch
from torch import nn
from torch_geometric.data import Batch
from torch_geometric.nn import GINEConv, GPSConv

from graphformers.attention import LinearAttention, MultiheadAttention, PerformerAttention
from graphformers.blocks.gps import GPSLayer
from graphformers.local.base import PyGConv
from graphformers.local.gine import GINE
from graphformers.testing import (
    assert_batch_independent,
    assert_every_param_has_grad,
    assert_permutation_equivariant,
    assert_reset_changes_parameters,
    random_graph,
)

C = 16


def gine(channels: int = C) -> PyGConv:
    mlp = nn.Sequential(nn.Linear(channels, channels), nn.ReLU(), nn.Linear(channels, channels))
    return PyGConv(GINEConv(mlp, edge_dim=4), channels)


ATTN = {
    "full": lambda: MultiheadAttention(C, heads=4),
    "performer": lambda: PerformerAttention(C, heads=4, num_features=16),
    "linear": lambda: LinearAttention(C, heads=4),
    "none": lambda: None,
}


def graphs(sizes):
    g = torch.Generator().manual_seed(3)
    return [random_graph(n, 2 * n, channels=C, edge_dim=4, generator=g) for n in sizes]


def run(layer, data):
    return layer(data.x, data.edge_index, getattr(data, "batch", None), edge_attr=data.edge_attr)[0]


@pytest.mark.parametrize("attn", sorted(ATTN))
def test_permutation_and_batch_independence(attn):
    layer = GPSLayer(C, gine(), ATTN[attn](), dropout=0.1).eval()
    graph, *others = graphs((7, 12, 3, 20))
    assert_permutation_equivariant(lambda d: run(layer, d), graph)
    assert_batch_independent(lambda b: run(layer, b), graph, others)


@pytest.mark.parametrize("local", ["pyg_adapter", "library_gine"])
def test_parity_with_pyg_gpsconv(local):
    """Same weights, dropout 0: outputs (train and eval) and, in train mode, the
    gradients of input and every weight equal to 1e-5 (our attention and GINE
    write their backward by hand)."""
    torch.manual_seed(0)
    pyg = GPSConv(C, GINEConv(nn.Sequential(nn.Linear(C, C), nn.ReLU(), nn.Linear(C, C)), edge_dim=4), heads=4)
    if local == "pyg_adapter":
        local_module = PyGConv(GINEConv(nn.Sequential(nn.Linear(C, C), nn.ReLU(), nn.Linear(C, C)), edge_dim=4), C)
    else:
        local_module = GINE(C, edge_dim=4)
    ours = GPSLayer(C, local_module, MultiheadAttention(C, heads=4))
    ours.local.conv.load_state_dict(pyg.conv.state_dict())
    ours.attn.load_from_torch(pyg.attn)
    ours.ffn.lin1.load_state_dict(pyg.mlp[0].state_dict())
    ours.ffn.lin2.load_state_dict(pyg.mlp[3].state_dict())
    for mine, theirs in ((ours.norm_local, pyg.norm1), (ours.norm_attn, pyg.norm2), (ours.norm_out, pyg.norm3)):
        mine.load_state_dict(theirs.state_dict())
    batch = Batch.from_data_list(graphs((5, 9, 2, 14)))
    for mode in ("train", "eval"):
        getattr(pyg, mode)()
        getattr(ours, mode)()
        ref = pyg(batch.x, batch.edge_index, batch.batch, edge_attr=batch.edge_attr)
        out = run(ours, batch)
        torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    pyg.train()
    ours.train()
    weight = torch.randn(batch.num_nodes, C)
    grads = []
    for layer in (pyg, ours):
        x = batch.x.clone().requires_grad_()
        out = layer(x, batch.edge_index, batch.batch, edge_attr=batch.edge_attr)
        out = out[0] if isinstance(out, tuple) else out
        layer.zero_grad()
        (out * weight).sum().backward()
        grads.append((x.grad, {n: p.grad for n, p in layer.named_parameters()}))
    torch.testing.assert_close(grads[1][0], grads[0][0], atol=1e-5, rtol=1e-5)
    theirs = grads[0][1]
    pairs = {"local.conv.": "conv.", "ffn.lin1.": "mlp.0.", "ffn.lin2.": "mlp.3.", "norm_local.": "norm1.",
             "norm_attn.": "norm2.", "norm_out.": "norm3.", "attn.in_proj.weight": "attn.in_proj_weight",
             "attn.in_proj.bias": "attn.in_proj_bias", "attn.out_proj.": "attn.out_proj."}
    for name, grad in grads[1][1].items():
        ref_name = next(name.replace(k, v, 1) for k, v in pairs.items() if name.startswith(k))
        torch.testing.assert_close(grad, theirs[ref_name], atol=1e-5, rtol=1e-5, msg=name)


def test_gradients_reset_repr_and_training_lowers_loss():
    torch.manual_seed(0)
    layer = GPSLayer(C, gine(), MultiheadAttention(C, heads=4))
    batch = Batch.from_data_list(graphs((5, 9, 4)))
    assert_every_param_has_grad(layer, run(layer, batch).pow(2).sum())
    assert_reset_changes_parameters(layer, skip=("norm",))
    assert repr(layer).startswith("GPSLayer(16, local=PyGConv(GINEConv(nn=Sequential(")
    target = torch.randn(batch.num_nodes, C)
    opt = torch.optim.Adam(layer.parameters(), lr=1e-2)
    losses = []
    for _ in range(20):
        opt.zero_grad()
        loss = (run(layer, batch) - target).pow(2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_bad_input_and_edge_cases():
    with pytest.raises(ValueError, match="at least one"):
        GPSLayer(C, None, None)
    with pytest.raises(ValueError, match="width"):
        GPSLayer(C, None, MultiheadAttention(8, 2))
    layer = GPSLayer(C, gine(), MultiheadAttention(C, 4)).eval()
    with pytest.raises(ValueError, match=r"\[N, 16\]"):
        layer(torch.randn(3, 7), torch.zeros(2, 0, dtype=torch.long))
    # a single node and an edgeless graph
    for g in graphs((1,)) + [random_graph(4, 0, channels=C, edge_dim=4)]:
        out = run(layer, Batch.from_data_list([g]))
        assert out.shape == (g.num_nodes, C) and torch.isfinite(out).all()


def _with_running_stats(layer: GPSLayer) -> GPSLayer:
    """Eval mode with non-trivial BatchNorm running statistics."""
    g = torch.Generator().manual_seed(1)
    for norm in (layer.norm_local, layer.norm_attn, layer.norm_out):
        if norm is not None:
            norm.module.running_mean.copy_(torch.rand(C, generator=g) - 0.5)
            norm.module.running_var.copy_(torch.rand(C, generator=g) + 0.5)
    return layer.eval()


@pytest.mark.parametrize(
    "local, attn",
    [(lo, at) for lo in ("gin", "gine", "pyg", "none") for at in ("linear", "performer", "none")
     if (lo, at) != ("none", "none")],
)
def test_inference_in_node_chunks_equals_the_whole_forward(monkeypatch, local, attn):
    import graphformers.utils.chunks as chunks_module
    from graphformers.local.gine import GIN

    torch.manual_seed(0)
    locals_ = {"gin": lambda: GIN(C), "gine": lambda: GINE(C, edge_dim=4), "pyg": gine, "none": lambda: None}
    layer = _with_running_stats(GPSLayer(C, locals_[local](), ATTN[attn]()))
    data = Batch.from_data_list(graphs([7, 1, 12, 5]))
    expected = run(layer, data)  # parameters need gradients: the whole forward
    monkeypatch.setattr(chunks_module, "INFERENCE_CHUNK_ELEMENTS", 4 * 3 * C)  # 4 nodes per chunk
    monkeypatch.setattr(chunks_module, "WHOLE_FORWARD_MAX_BYTES", 4 * 3 * C * 4)  # chunk above 4 nodes
    with torch.no_grad():
        assert layer._runs_in_chunks(data.x, data.edge_attr)
        out = run(layer, data)
        one = layer(data[2].x, data[2].edge_index, None, edge_attr=data[2].edge_attr)[0]  # no batch vector
    torch.testing.assert_close(out, expected.detach(), atol=2e-6, rtol=0)
    torch.testing.assert_close(one, expected[8:20].detach(), atol=2e-6, rtol=0)


def test_node_chunks_only_where_they_give_the_same_function(monkeypatch):
    import graphformers.utils.chunks as chunks_module
    from torch_geometric.nn import GraphNorm

    data = Batch.from_data_list(graphs([7, 12]))
    monkeypatch.setattr(chunks_module, "INFERENCE_CHUNK_ELEMENTS", 4 * 3 * C)
    monkeypatch.setattr(chunks_module, "WHOLE_FORWARD_MAX_BYTES", 4 * 3 * C * 4)
    layer = _with_running_stats(GPSLayer(C, gine(), LinearAttention(C, heads=4)))
    with torch.no_grad():
        assert layer._runs_in_chunks(data.x, data.edge_attr)
        assert not layer.train()._runs_in_chunks(data.x, data.edge_attr)  # BatchNorm uses batch statistics
        layer.eval()
        assert not layer._runs_in_chunks(data.x[:4], data.edge_attr)  # temporaries under the threshold
    assert not layer._runs_in_chunks(data.x, data.edge_attr)  # autograd
    with torch.no_grad():
        assert not GPSLayer(C, gine(), MultiheadAttention(C, heads=4)).eval()._runs_in_chunks(data.x, None)
        graph_norm = GPSLayer(C, gine(), LinearAttention(C, heads=4), norm=GraphNorm).eval()
        assert not graph_norm._runs_in_chunks(data.x, None)  # not row-wise: would change the function


def test_reset_parameters_reaches_plain_containers():
    """An FFN passed in as ``nn.Sequential`` (no ``reset_parameters`` of its own) is reset
    too, as every other part of the layer."""
    from graphformers.attention import MultiheadAttention
    from graphformers.local.gine import GINE

    torch.manual_seed(0)
    ffn = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 8))
    layer = GPSLayer(8, GINE(8), MultiheadAttention(8, 2), ffn=ffn)
    before = ffn[0].weight.clone()
    torch.manual_seed(1)
    layer.reset_parameters()
    assert not torch.equal(ffn[0].weight, before)


def test_other_blocks_reset_plain_containers_too():
    """TransformerLayer (FFN as nn.Sequential), VirtualNode (its MLP) and SequenceEncoder
    (an nn.Sequential input encoder) reset every parameter in containers."""
    from graphformers.attention import MultiheadAttention
    from graphformers.blocks.transformer import TransformerLayer
    from graphformers.models.sequence import SequenceEncoder

    torch.manual_seed(0)
    ffn = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 8))
    layer = TransformerLayer(MultiheadAttention(8, 2), ffn, 8)
    encoder = SequenceEncoder(8, 1, heads=2, input_encoder=nn.Sequential(nn.Linear(3, 8), nn.ReLU()))
    watched = [(layer.reset_parameters, ffn[0].weight), (encoder.reset_parameters, encoder.input_encoder[0].weight)]
    for reset, weight in watched:
        before = weight.clone()
        torch.manual_seed(1)
        reset()
        assert not torch.equal(weight, before)
