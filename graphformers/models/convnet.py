r"""A convolutional network as a graph model: relational grid convs and grid coarsening."""

from __future__ import annotations

import numbers

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import global_mean_pool
from torch_geometric.utils import scatter

from graphformers.local.grid_conv import RelationalGridConv
from graphformers.transforms.image import coarsen_grid, grid_edges_from_pos
from graphformers.typing import OptTensor

__all__ = ["ConvNet", "TorchConvNet"]


def _check_kernel_size(owner: str, kernel_size: int) -> None:
    """Only odd kernels have a symmetric "same" padding ``(k - 1) / 2``: with an even
    ``k`` the graph form (padding ``(k - 1) // 2``, grid kept) and ``Conv2d(padding=k // 2)``
    (grid grows by one) would compute different functions."""
    is_int = isinstance(kernel_size, numbers.Integral) and not isinstance(kernel_size, bool)
    if not is_int or kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"{owner}: kernel_size must be an odd positive integer (same padding), got {kernel_size!r}")


class ConvNet(nn.Module):
    r"""A small LeNet/VGG-style CNN (LeCun et al., 1998) as message passing on pixel graphs.

    .. math::
        H^{(l)} = \mathrm{MaxPool}_{2 \times 2}\big(\mathrm{ReLU}(\mathrm{RelConv}_l(H^{(l-1)}, G_l))\big),
        \qquad y = W \cdot \mathrm{MeanPool}(\mathrm{ReLU}(\mathrm{RelConv}_L(H^{(L-1)}, G_L)))

    Each stage is a :class:`~graphformers.local.grid_conv.RelationalGridConv`
    (one weight per 3x3 offset relation, i.e. a ``Conv2d(k=3, padding=1)``),
    ReLU, then max pooling, which on a graph is coarsening: pixels are
    clustered into 2x2 cells (:func:`~graphformers.transforms.image.coarsen_grid`),
    features are max-reduced per cluster, and the coarse grid's offset edges are
    rebuilt from the cluster positions
    (:func:`~graphformers.transforms.image.grid_edges_from_pos`). The last stage
    is followed by global mean pooling and a linear classifier. Border cells of
    odd-sized grids are kept (``MaxPool2d(ceil_mode=True)``).

    Args:
        in_channels: pixel channels.
        hidden_channels: width of each conv stage (one entry per stage).
        num_classes: output classes.
        kernel_size: conv kernel side ``k`` (``k^2`` relations), odd.

    Raises:
        ValueError: for an even or non-positive ``kernel_size``.

    Shapes:
        - input: ``x [N, C_in]``, ``edge_index [2, E]``, ``edge_type [E]``,
          ``pos [N, 2]`` (integer pixel coordinates), ``batch [N]``
        - output: ``[B, num_classes]``
    """

    #: the paper this model implements (listed by ``graphformers ls models``).
    citation: str = "LeCun et al., Gradient-Based Learning Applied to Document Recognition, Proc. IEEE 1998"

    def __init__(self, in_channels: int, hidden_channels: list[int], num_classes: int, *, kernel_size: int = 3) -> None:
        super().__init__()
        if not hidden_channels:
            raise ValueError("hidden_channels needs at least one stage")
        _check_kernel_size(type(self).__name__, kernel_size)
        self.in_channels = in_channels
        self.hidden_channels = list(hidden_channels)
        self.num_classes = num_classes
        self.kernel_size = kernel_size
        widths = [in_channels, *hidden_channels]
        self.convs = nn.ModuleList(
            RelationalGridConv(c_in, c_out, kernel_size * kernel_size) for c_in, c_out in zip(widths[:-1], widths[1:])
        )
        self.head = nn.Linear(widths[-1], num_classes)

    def reset_parameters(self) -> None:
        for conv in self.convs:
            conv.reset_parameters()
        self.head.reset_parameters()

    def forward(self, x: Tensor, edge_index: Tensor, edge_type: Tensor, pos: Tensor, batch: OptTensor = None) -> Tensor:
        if batch is None:
            batch = torch.zeros(x.size(0), dtype=torch.long, device=x.device)
        h = x
        for i, conv in enumerate(self.convs):
            h = F.relu(conv(h, edge_index, edge_type))
            if i + 1 < len(self.convs):
                cluster, pos, batch = coarsen_grid(pos, batch, 2)
                h = scatter(h, cluster, dim=0, dim_size=pos.size(0), reduce="max")
                edge_index, edge_type = grid_edges_from_pos(pos, batch, kernel_size=self.kernel_size)
        return self.head(global_mean_pool(h, batch))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.in_channels}, hidden_channels={self.hidden_channels}, num_classes={self.num_classes})"


class TorchConvNet(nn.Module):
    """The plain-PyTorch reference of :class:`ConvNet` (LeCun et al., 1998): ``Conv2d`` / ``ReLU`` /
    ``MaxPool2d(2, ceil_mode=True)`` stages, global average pooling, a linear classifier.
    ``kernel_size`` must be odd, as in :class:`ConvNet`."""

    def __init__(self, in_channels: int, hidden_channels: list[int], num_classes: int, *, kernel_size: int = 3) -> None:
        super().__init__()
        _check_kernel_size(type(self).__name__, kernel_size)
        widths = [in_channels, *hidden_channels]
        self.convs = nn.ModuleList(
            nn.Conv2d(c_in, c_out, kernel_size, padding=kernel_size // 2) for c_in, c_out in zip(widths[:-1], widths[1:])
        )
        self.head = nn.Linear(widths[-1], num_classes)

    def forward(self, images: Tensor) -> Tensor:
        h = images
        for i, conv in enumerate(self.convs):
            h = F.relu(conv(h))
            if i + 1 < len(self.convs):
                h = F.max_pool2d(h, 2, ceil_mode=True)
        return self.head(h.mean(dim=(2, 3)))

    @torch.no_grad()
    def load_from_graph(self, model: ConvNet) -> TorchConvNet:
        """Copy a :class:`ConvNet`'s weights (relation ``ky k + kx`` -> ``weight[:, :, ky, kx]``)."""
        for conv, rel in zip(self.convs, model.convs):
            k = conv.kernel_size[0]
            conv.weight.copy_(rel.weight.reshape(k, k, conv.in_channels, conv.out_channels).permute(3, 2, 0, 1))
            conv.bias.copy_(rel.bias)
        self.head.load_state_dict(model.head.state_dict())
        return self
