"""GINE: parity with PyG's GINEConv and input checks."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.nn import GINConv, GINEConv

import graphformers.utils.chunks as chunks_module
from graphformers.local.gine import GIN, GINE, gps_mlp
from graphformers.testing import tiny_batch, tiny_graph


@pytest.fixture(params=[None, 4], ids=["edge_dim=C", "edge_dim=4"])
def gine_pair(request):
    """(batch, our GINE, PyG's GINEConv with the same weights), eps learnable."""
    edge_dim = request.param
    data = tiny_batch(channels=8, edge_dim=edge_dim or 8)
    ours = GINE(8, edge_dim=edge_dim, train_eps=True)
    ref = GINEConv(gps_mlp(8), train_eps=True, edge_dim=edge_dim)
    ref.load_state_dict(ours.conv.state_dict())
    return data, ours, ref


def test_equals_pyg_gineconv_with_copied_weights(gine_pair):
    data, ours, ref = gine_pair
    with torch.no_grad():
        ours.conv.eps.fill_(0.3)
        ref.eps.fill_(0.3)
    out, e = ours(data.x, data.edge_index, data.edge_attr)
    torch.testing.assert_close(out, ref(data.x, data.edge_index, data.edge_attr), atol=1e-6, rtol=0)
    assert e is data.edge_attr


def test_hand_computed_sum_on_a_path():
    # 0 - 1 - 2, identity MLP: x'_i = x_i + sum_j relu(x_j + e_ji)
    x = torch.tensor([[1.0, -2.0], [0.5, 0.5], [-1.0, 3.0]])
    ei = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
    ea = torch.tensor([[0.0, 1.0], [1.0, 0.0], [-1.0, -1.0], [2.0, -4.0]])
    gine = GINE(2, mlp=torch.nn.Identity())
    out, _ = gine(x, ei, ea)
    expected = torch.tensor(
        [
            [1.0 + 1.5, -2.0 + 0.5],
            [0.5 + 1.0 + 1.0, 0.5 + 0.0 + 0.0],  # relu([1, -1]) from both 0 and 2
            [-1.0 + 0.0, 3.0 + 0.0],
        ]
    )
    torch.testing.assert_close(out, expected)


def test_edge_linear_only_when_widths_differ():
    assert GINE(8).conv.lin is None
    assert GINE(8, edge_dim=8).conv.lin is None
    assert GINE(8, edge_dim=3).conv.lin.in_channels == 3



def test_wrong_widths_are_clear_errors():
    data = tiny_graph(channels=8, edge_dim=4)
    with pytest.raises(ValueError, match=r"'edge_attr' must have shape \[\*, 8\]"):
        GINE(8)(data.x, data.edge_index, data.edge_attr)
    with pytest.raises(ValueError, match=r"'x' must have shape \[\*, 6\]"):
        GINE(6, edge_dim=4)(data.x, data.edge_index, data.edge_attr)
    with pytest.raises(ValueError, match="'edge_attr' has 3 rows"):
        GINE(8, edge_dim=4)(data.x, data.edge_index, data.edge_attr[:3])


def test_custom_mlp_in_repr():
    gine = GINE(4, mlp=torch.nn.Linear(4, 4))
    assert repr(gine) == "GINE(4, edge_dim=4, train_eps=False, mlp=Linear(in_features=4, out_features=4, bias=True))"


def test_gradients_equal_pyg_gineconv_and_double_backward_works(gine_pair):
    data, ours, ref = gine_pair
    weight = torch.randn(data.num_nodes, 8)
    grads = []
    for module, call in ((ours, lambda x, e: ours(x, data.edge_index, e)[0]),
                         (ref, lambda x, e: ref(x, data.edge_index, e))):
        x = data.x.clone().requires_grad_()
        e = data.edge_attr.clone().requires_grad_()
        (call(x, e) * weight).sum().backward()
        grads.append([x.grad, e.grad] + [p.grad for p in module.parameters()])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)
    x = data.x.clone().requires_grad_()
    (gx,) = torch.autograd.grad(ours(x, data.edge_index, data.edge_attr)[0].pow(2).sum(), x, create_graph=True)
    gx.sum().backward()  # second order through the written-out backward
    assert ours.conv.nn[0].weight.grad is not None



def test_mixed_precision_inputs_promote_as_gineconv_does():
    data = tiny_batch(channels=8, edge_dim=8)
    gine = GINE(8, mlp=torch.nn.Identity())
    ref = GINEConv(torch.nn.Identity())
    x = data.x.clone().requires_grad_()
    edge_attr = data.edge_attr.double()
    out, _ = gine(x, data.edge_index, edge_attr)
    expected = ref(data.x, data.edge_index, edge_attr)
    assert out.dtype == expected.dtype == torch.float64
    torch.testing.assert_close(out, expected)
    out.sum().backward()
    assert x.grad.dtype == torch.float32


def test_inference_in_chunks_equals_the_training_path(monkeypatch):
    data = tiny_batch(channels=8, edge_dim=8)
    gine = GINE(8)
    x = data.x.clone().requires_grad_()
    expected, _ = gine(x, data.edge_index, data.edge_attr)  # x needs a gradient: one saved buffer
    monkeypatch.setattr(chunks_module, "INFERENCE_CHUNK_ELEMENTS", 3 * 8)  # 3 edges per chunk
    with torch.no_grad():
        chunked, _ = gine(data.x, data.edge_index, data.edge_attr)
    assert data.num_edges > 6  # really several chunks
    assert torch.equal(chunked, expected.detach())


# ---------------------------------------------------------------- GIN (no edge features)


def _saved_shapes(fn):
    """Shapes of every tensor autograd saves while ``fn()`` runs, and its result."""
    shapes = []

    def pack(t):
        shapes.append(tuple(t.shape))
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    return shapes, out


@pytest.mark.parametrize("eps", [0.0, 0.3])
def test_gin_equals_pyg_ginconv_in_values_and_gradients(eps):
    data = tiny_batch(channels=8)
    ours = GIN(8, train_eps=True)
    ref = GINConv(gps_mlp(8), train_eps=True)
    ref.load_state_dict(ours.conv.state_dict())
    with torch.no_grad():
        ours.conv.eps.fill_(eps)
        ref.eps.fill_(eps)
    x1 = data.x.clone().requires_grad_()
    x2 = data.x.clone().requires_grad_()
    out, e = ours(x1, data.edge_index)
    expected = ref(x2, data.edge_index)
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=0)
    assert e is None
    out.square().sum().backward()
    expected.square().sum().backward()
    torch.testing.assert_close(x1.grad, x2.grad, atol=1e-5, rtol=0)
    for p, q in zip(ours.conv.parameters(), ref.parameters()):
        torch.testing.assert_close(p.grad, q.grad, atol=1e-5, rtol=0)


def test_gin_hand_computed_sum_and_no_edge_sized_tensor_saved():
    # 0 - 1 - 2 plus an edge 0 -> 2, identity MLP, eps = 0: x'_i = x_i + sum_j x_j
    x = torch.tensor([[1.0, -2.0], [0.5, 0.5], [-1.0, 3.0]], requires_grad=True)
    ei = torch.tensor([[0, 1, 1, 2, 0], [1, 0, 2, 1, 2]])
    gin = GIN(2, mlp=torch.nn.Identity())
    shapes, (out, _) = _saved_shapes(lambda: gin(x, ei))
    expected = torch.tensor([[1.5, -1.5], [0.5 + 1.0 - 1.0, 0.5 - 2.0 + 3.0], [-1.0 + 0.5 + 1.0, 3.0 + 0.5 - 2.0]])
    torch.testing.assert_close(out, expected)
    assert (ei.size(1), 2) not in shapes  # only the indices are kept for the backward
    out.sum().backward()
    # d/dx_j of sum_i x'_i = 1 + out-degree(j)
    torch.testing.assert_close(x.grad, torch.tensor([[3.0, 3.0], [3.0, 3.0], [2.0, 2.0]]))


def test_gine_keeps_one_edge_sized_tensor_for_the_backward():
    data = tiny_batch(channels=8, edge_dim=8)
    x = data.x.clone().requires_grad_()
    gine = GINE(8)
    shapes, _ = _saved_shapes(lambda: gine(x, data.edge_index, data.edge_attr))
    assert shapes.count((data.num_edges, 8)) == 1


@pytest.mark.parametrize("out_width", [8, 5])
def test_gin_inference_in_chunks_equals_the_plain_composition(monkeypatch, out_width):
    data = tiny_batch(channels=8)
    mlp = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, out_width))
    gin = GIN(8, mlp=mlp, train_eps=True).eval()
    with torch.no_grad():
        gin.conv.eps.fill_(0.25)
    x = data.x.clone().requires_grad_()
    expected, _ = gin(x, data.edge_index)  # autograd: one composition, no chunks
    monkeypatch.setattr(chunks_module, "INFERENCE_CHUNK_ELEMENTS", 3 * 16)  # 3 rows (edges) per chunk
    with torch.no_grad():
        chunked, _ = gin(data.x, data.edge_index)
    assert data.num_nodes > 6 and chunked.shape == (data.num_nodes, out_width)
    torch.testing.assert_close(chunked, expected.detach(), atol=1e-6, rtol=0)


def test_gin_runs_an_unknown_mlp_as_one_composition(monkeypatch):
    class Scale(torch.nn.Module):  # not known to be row-wise: never chunked
        def forward(self, x):
            return x / x.norm()

    data = tiny_batch(channels=8)
    gin = GIN(8, mlp=Scale())
    monkeypatch.setattr(chunks_module, "INFERENCE_CHUNK_ELEMENTS", 3 * 8)
    with torch.no_grad():
        out, _ = gin(data.x, data.edge_index)
    torch.testing.assert_close(out.norm(), torch.tensor(1.0))


def test_gin_bad_input():
    data = tiny_graph(channels=8)
    with pytest.raises(ValueError, match="'x'"):
        GIN(4)(data.x, data.edge_index)
    with pytest.raises(ValueError, match="'edge_index'"):
        GIN(8)(data.x, data.edge_index[0])
    assert repr(GIN(8)) == "GIN(8, train_eps=False)"
