"""ViT-as-graph == Conv2d patch embedding + nn.TransformerEncoder; ConvNet-as-graph == Conv2d CNN."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Data

from graphformers.models.convnet import ConvNet, TorchConvNet
from graphformers.models.vit import SinCos2DPositionEncoding, TorchViT, ViT
from graphformers.testing import assert_every_param_has_grad, assert_permutation_equivariant
from graphformers.transforms.image import (
    image_to_grid_graph,
    images_to_grid_graphs,
    images_to_patch_graphs,
    sincos_2d_encoding,
)


def _vit(g: Data, model: ViT) -> torch.Tensor:
    return model(g.x, g.edge_index, g.batch, position=g.position, class_mask=g.class_mask)


@pytest.mark.parametrize("class_token", [True, False])
def test_vit_equals_torch_reference(class_token):
    model = ViT(2 * 2 * 2, 16, 2, 10, 16, heads=4, class_token=class_token).eval()
    ref = TorchViT(2, 2, 8, 16, 2, 10, heads=4, class_token=class_token).load_from_graph(model).eval()
    images = torch.rand(3, 2, 8, 8)
    g = images_to_patch_graphs(images, 2, class_token=class_token)
    torch.testing.assert_close(_vit(g, model), ref(images), atol=1e-5, rtol=1e-5)


def test_vit_equals_reference_in_training_mode_and_grads():
    model = ViT(4, 16, 1, 3, 4, heads=2).train()
    ref = TorchViT(1, 2, 4, 16, 1, 3, heads=2).load_from_graph(model).train()
    images = torch.rand(2, 1, 4, 4)
    out = _vit(images_to_patch_graphs(images, 2), model)
    torch.testing.assert_close(out, ref(images), atol=1e-5, rtol=1e-5)
    assert_every_param_has_grad(model, out.pow(2).sum())
    assert repr(model) == "ViT(4, 16, num_layers=1, num_classes=3, heads=2, class_token=True)"


def test_vit_with_fixed_2d_positions():
    """The 2-D sine-cosine table, looked up by ``position``, equals encoding the graph's 2-D ``pos``."""
    enc = SinCos2DPositionEncoding((2, 3), 8)
    g = images_to_patch_graphs(torch.rand(2, 1, 4, 6), 2)
    torch.testing.assert_close(enc(g.position), sincos_2d_encoding(g.pos, 8))
    model = ViT(4, 8, 1, 3, 6, pos_encoder=enc)
    assert _vit(g, model).shape == (2, 3)
    assert not any(p is enc.table for p in model.parameters())


def test_vit_needs_class_mask():
    model = ViT(4, 8, 1, 3, 4)
    g = images_to_patch_graphs(torch.rand(1, 1, 4, 4), 2)
    with pytest.raises(ValueError, match="class_mask"):
        model(g.x, g.edge_index, g.batch, position=g.position)


@pytest.mark.parametrize("shape", [(3, 1, 8, 8), (2, 2, 7, 9)])
def test_convnet_equals_torch_reference(shape):
    model = ConvNet(shape[1], [4, 6, 8], 5)
    ref = TorchConvNet(shape[1], [4, 6, 8], 5).load_from_graph(model)
    images = torch.rand(*shape)
    g = images_to_grid_graphs(images)
    out = model(g.x, g.edge_index, g.edge_type, g.pos, g.batch)
    torch.testing.assert_close(out, ref(images), atol=1e-5, rtol=1e-5)
    assert_every_param_has_grad(model, out.pow(2).sum())


def test_convnet_is_invariant_to_node_order():
    """Pixels are located by ``pos``, so relabelling the nodes does not change the prediction."""
    model = ConvNet(1, [3, 4], 2)
    data = image_to_grid_graph(torch.rand(1, 6, 5))
    assert_permutation_equivariant(
        lambda d: model(d.x, d.edge_index, d.edge_type, d.pos), data, node_level=False
    )


def test_convnet_with_a_5x5_kernel_equals_torch_reference():
    model = ConvNet(1, [4, 6], 3, kernel_size=5)
    ref = TorchConvNet(1, [4, 6], 3, kernel_size=5).load_from_graph(model)
    images = torch.rand(2, 1, 7, 6)
    g = images_to_grid_graphs(images, kernel_size=5)
    torch.testing.assert_close(model(g.x, g.edge_index, g.edge_type, g.pos, g.batch), ref(images), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("cls", [ConvNet, TorchConvNet])
@pytest.mark.parametrize("kernel_size", [2, 4, 0, -1])
def test_convnets_refuse_kernels_without_same_padding(cls, kernel_size):
    """Even kernels used to give two different functions (TorchConvNet's grid grew by one) without an error."""
    with pytest.raises(ValueError, match=f"{cls.__name__}: kernel_size must be an odd positive integer .*got {kernel_size}"):
        cls(1, [4, 6], 3, kernel_size=kernel_size)
