"""Image -> pixel-grid and patch graphs: batched builders, coarsening, patch order, 2-D PE."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Batch, Data

from graphformers.transforms.image import (
    ImageToGridGraph,
    ImageToPatchGraph,
    coarsen_grid,
    grid_edges_from_pos,
    image_to_grid_graph,
    image_to_patch_graph,
    images_to_grid_graphs,
    images_to_patch_graphs,
    sincos_2d_encoding,
)


def _same(batched: Data, ref: Batch, keys: list[str]) -> None:
    for key in keys:
        assert torch.equal(batched[key], ref[key]), key


def test_batched_grid_graph_equals_from_data_list():
    images = torch.randn(3, 2, 5, 4)
    ref = Batch.from_data_list([image_to_grid_graph(img) for img in images])
    _same(images_to_grid_graphs(images), ref, ["x", "edge_index", "edge_type", "pos", "batch", "ptr"])


def test_batched_patch_graph_equals_from_data_list():
    images = torch.randn(3, 2, 8, 4)
    for cls in (True, False):
        ref = Batch.from_data_list([image_to_patch_graph(img, 2, class_token=cls) for img in images])
        _same(images_to_patch_graphs(images, 2, class_token=cls), ref,
              ["x", "edge_index", "position", "pos", "class_mask", "batch", "ptr"])


def test_grid_edges_from_pos_handles_missing_pixels_and_images():
    g = images_to_grid_graphs(torch.randn(2, 1, 4, 5))
    ei, et = grid_edges_from_pos(g.pos, g.batch)
    assert torch.equal(ei, g.edge_index) and torch.equal(et, g.edge_type)
    # keep pixels (0,0), (0,1), (1,1): edges are exactly the offsets among them
    ei, et = grid_edges_from_pos(torch.tensor([[0, 0], [0, 1], [1, 1]]))
    pairs = {(int(s), int(d), int(r)) for s, d, r in zip(ei[0], ei[1], et)}
    assert pairs == {(0, 0, 4), (1, 0, 5), (2, 0, 8), (0, 1, 3), (1, 1, 4), (2, 1, 7), (0, 2, 0), (1, 2, 1), (2, 2, 4)}


def test_coarsen_grid_ceil_mode():
    pos = torch.tensor([[y, x] for y in range(3) for x in range(3)])
    cluster, cpos, cbatch = coarsen_grid(pos, None, 2)
    assert torch.equal(cluster, torch.tensor([0, 0, 1, 0, 0, 1, 2, 2, 3]))
    assert torch.equal(cpos, torch.tensor([[0, 0], [0, 1], [1, 0], [1, 1]]))
    assert torch.equal(cbatch, torch.zeros(4, dtype=torch.long))


def test_patch_features_follow_conv_weight_order():
    image = torch.arange(2 * 4 * 4, dtype=torch.float).view(2, 4, 4)
    data = image_to_patch_graph(image, 2)
    assert data.num_nodes == 5 and data.edge_index.size(1) == 25
    assert bool((data.x[0] == 0).all()) and data.class_mask.tolist() == [True, False, False, False, False]
    # patch 1 (row 0, col 1): channel-major then (py, px), like Conv2d weight[:, c, py, px]
    assert torch.equal(data.x[2], image[:, 0:2, 2:4].reshape(-1))
    assert data.pos[2].tolist() == [0, 1] and data.pos[0].tolist() == [-1, -1]


def test_sincos_2d_encoding():
    pos = torch.tensor([[-1, -1], [0, 0], [2, 3]])
    enc = sincos_2d_encoding(pos, 8)
    assert bool((enc[0] == 0).all())
    assert torch.allclose(enc[2, :4].view(2, 2)[:, 0], torch.sin(torch.tensor([2.0, 2.0 / 100])))
    with pytest.raises(ValueError, match="divisible by 4"):
        sincos_2d_encoding(pos, 6)


def test_transforms_keep_labels_and_check_input():
    data = Data(image=torch.randn(1, 4, 4), y=torch.tensor([3]))
    grid = ImageToGridGraph()(data)
    assert grid.num_nodes == 16 and int(grid.y) == 3 and "image" not in grid
    patches = ImageToPatchGraph(2, class_token=False)(data)
    assert patches.num_nodes == 4 and int(patches.y) == 3
    assert repr(ImageToPatchGraph(2)) == "ImageToPatchGraph(patch_size=2, class_token=True)"
    with pytest.raises(ValueError, match="data.image"):
        ImageToGridGraph()(Data(x=torch.randn(3, 1)))
    with pytest.raises(ValueError, match="patch_size=3"):
        images_to_patch_graphs(torch.randn(1, 1, 4, 4), 3)
    with pytest.raises(ValueError, match="images"):
        images_to_grid_graphs(torch.randn(4, 4))


def test_grid_edges_from_pos_builds_on_the_device_of_pos():
    """Index tensors used to be made on the default device whatever ``pos.device`` (CUDA broke after
    the first pooling of ConvNet). A meta default device makes any tensor not made on pos.device fail."""
    grid = image_to_grid_graph(torch.rand(1, 5, 7)).pos
    _, pos, batch = coarsen_grid(torch.cat([grid, grid]), torch.arange(2).repeat_interleave(35))
    expected = grid_edges_from_pos(pos, batch)
    with torch.device("meta"):
        edge_index, edge_type = grid_edges_from_pos(pos, batch)
        empty_index, empty_type = grid_edges_from_pos(pos[:0], batch[:0])
    assert edge_index.device == edge_type.device == pos.device
    assert torch.equal(edge_index, expected[0]) and torch.equal(edge_type, expected[1])
    assert empty_index.device == empty_type.device == pos.device and empty_index.shape == (2, 0)


def test_batched_image_graphs_live_on_the_device_of_the_images():
    """Every tensor of the grid and patch graphs is on the images' device (checked with
    ``meta`` tensors, no GPU needed); before, only ``x`` was."""
    from graphformers.transforms.image import images_to_grid_graphs, images_to_patch_graphs

    images = torch.empty(2, 1, 4, 4, device="meta")
    for data in (images_to_grid_graphs(images), images_to_patch_graphs(images, 2)):
        devices = {key: value.device.type for key, value in data.items() if torch.is_tensor(value)}
        assert set(devices.values()) == {"meta"}, devices
