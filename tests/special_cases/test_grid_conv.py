"""RelationalGridConv on the pixel grid == torch.nn.Conv2d (same weights), incl. stride/dilation."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch_geometric.nn import RGCNConv

from graphformers.local.grid_conv import RelationalGridConv
from graphformers.testing import assert_every_param_has_grad, assert_reset_changes_parameters
from graphformers.transforms.image import grid_edges, image_to_grid_graph


def _run(conv: nn.Conv2d, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    k = conv.kernel_size[0]
    C, Hh, W = image.shape
    ei, et, (h_out, w_out) = grid_edges(
        Hh, W, kernel_size=k, stride=conv.stride[0], dilation=conv.dilation[0], padding=conv.padding[0]
    )
    ours = RelationalGridConv(conv.in_channels, conv.out_channels, k * k, bias=conv.bias is not None)
    ours.load_from_conv2d(conv)
    out = ours(image.reshape(C, -1).t(), ei, et, size=(Hh * W, h_out * w_out))
    return out.t().reshape(conv.out_channels, h_out, w_out), conv(image.unsqueeze(0)).squeeze(0)


def test_equals_conv2d_k3_padding1():
    conv = nn.Conv2d(3, 5, 3, padding=1)
    out, ref = _run(conv, torch.randn(3, 6, 7))
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    "k,stride,dilation,padding,size",
    [(3, 2, 1, 1, (7, 6)), (3, 1, 2, 2, (6, 7)), (3, 2, 2, 2, (9, 8)), (5, 1, 1, 2, (6, 6)), (3, 1, 1, 0, (5, 5))],
)
def test_equals_conv2d_stride_dilation(k, stride, dilation, padding, size):
    conv = nn.Conv2d(2, 4, k, stride=stride, dilation=dilation, padding=padding, bias=False)
    out, ref = _run(conv, torch.randn(2, *size))
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)


def test_grid_edges_by_hand():
    """A 2x2 image with a 3x3 kernel: every pixel sees all 4 pixels, via 4 distinct offsets."""
    ei, et, out_size = grid_edges(2, 2)
    assert out_size == (2, 2) and ei.size(1) == 16
    # destination 0 (top-left) receives itself at the centre (4), right (5), below (7), below-right (8)
    assert torch.equal(ei[:, :4], torch.tensor([[0, 1, 2, 3], [0, 0, 0, 0]]))
    assert torch.equal(et[:4], torch.tensor([4, 5, 7, 8]))


def test_equals_pyg_rgcn_with_sum_aggregation():
    data = image_to_grid_graph(torch.randn(3, 5, 4))
    ours = RelationalGridConv(3, 6, 9)
    rgcn = RGCNConv(3, 6, 9, aggr="add", root_weight=False, bias=True)
    with torch.no_grad():
        rgcn.weight.copy_(ours.weight)
        rgcn.bias.copy_(ours.bias)
    torch.testing.assert_close(ours(data.x, data.edge_index, data.edge_type), rgcn(data.x, data.edge_index, data.edge_type))


def test_general_relational_graph_with_repeated_relations():
    """Several in-edges of one relation (not a grid): the scatter path, still equal to RGCNConv(add)."""
    x = torch.randn(6, 3)
    ei = torch.tensor([[0, 1, 2, 3, 4, 5, 0], [1, 1, 1, 2, 2, 0, 5]])
    et = torch.tensor([0, 0, 1, 2, 2, 1, 0])  # node 1 gets two edges of relation 0
    ours = RelationalGridConv(3, 4, 3)
    rgcn = RGCNConv(3, 4, 3, aggr="add", root_weight=False, bias=True)
    with torch.no_grad():
        rgcn.weight.copy_(ours.weight)
        rgcn.bias.copy_(ours.bias)
    torch.testing.assert_close(ours(x, ei, et), rgcn(x, ei, et))


def test_grads_reset_repr_errors():
    data = image_to_grid_graph(torch.randn(2, 4, 4))
    conv = RelationalGridConv(2, 3, 9)
    assert_every_param_has_grad(conv, conv(data.x, data.edge_index, data.edge_type).pow(2).sum())
    assert_reset_changes_parameters(conv)
    assert repr(conv) == "RelationalGridConv(2, 3, num_relations=9, bias=True)"
    with pytest.raises(ValueError, match="edge_type"):
        conv(data.x, data.edge_index, data.edge_type[:-1])
    with pytest.raises(ValueError, match="shapes differ"):
        conv.load_from_conv2d(nn.Conv2d(2, 3, 5))


def test_edge_type_out_of_range_is_a_clear_error():
    """A negative edge_type used to wrap silently into another node's slot, one >= R gave a bare IndexError."""
    conv = RelationalGridConv(1, 2, 9)
    g = image_to_grid_graph(torch.rand(1, 4, 5))
    negative = g.edge_type.clone()
    negative[negative == 8] = -1
    with pytest.raises(ValueError, match=r"'edge_type' must be in 0\.\.8 \(num_relations=9\), got -1"):
        conv(g.x, g.edge_index, negative)
    g5 = image_to_grid_graph(torch.rand(1, 6, 6), kernel_size=5)  # a graph for another kernel size
    with pytest.raises(ValueError, match=r"'edge_type' must be in 0\.\.8 \(num_relations=9\), got 24"):
        conv(g5.x, g5.edge_index, g5.edge_type)
    assert conv(g.x, g.edge_index[:, :0], g.edge_type[:0]).shape == (20, 2)  # no edges: bias only
