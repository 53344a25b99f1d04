"""GINE: the edge-aware Graph Isomorphism Network conv behind the local signature."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.nn import GINEConv

from graphformers.local.base import LocalMessagePassing
from graphformers.typing import OptTensor


def gps_mlp(channels: int) -> nn.Sequential:
    """The MLP GraphGPS puts inside GINE: ``Linear(C, C) -> ReLU -> Linear(C, C)``."""
    return nn.Sequential(nn.Linear(channels, channels), nn.ReLU(), nn.Linear(channels, channels))


#: messages gathered at once when no backward is needed (``2**22`` values, 16 MiB in
#: float32: below glibc's largest mmap threshold, so the buffer is reused, not re-faulted)
INFERENCE_CHUNK_ELEMENTS = 2**22


class _GINEAggregate(torch.autograd.Function):
    r"""``out_i = sum_{j->i} ReLU(x_j + e_ji)`` with its backward written out:
    one ``[E, C]`` message buffer (gathered, shifted and rectified in place) is
    all it keeps for the backward, where PyG's ``propagate`` keeps the gathered
    ``x_j``, the sum and the ReLU output and scatters through an expanded index.
    When no input needs a gradient (inference) the edges go in chunks and the
    ``[E, C]`` buffer never exists; the sum is the same, added in the same order."""

    @staticmethod
    def forward(ctx, x: Tensor, edge_attr: Tensor, src: Tensor, dst: Tensor) -> Tensor:  # type: ignore[override]
        # in the promoted dtype, as x_j + e would be (e.g. half x, float edges under autocast)
        dtype = torch.promote_types(x.dtype, edge_attr.dtype)
        out = torch.zeros(x.size(0), edge_attr.size(1), dtype=dtype, device=x.device)

        def messages(part: slice) -> Tensor:  # ReLU(x_j + e_ji) of the edges in ``part``
            return x.index_select(0, src[part]).to(dtype).add_(edge_attr[part]).relu_()

        if not any(ctx.needs_input_grad[:2]):
            step = max(1, INFERENCE_CHUNK_ELEMENTS // max(1, edge_attr.size(1)))
            for start in range(0, src.numel(), step):
                out.index_add_(0, dst[start:start + step], messages(slice(start, start + step)))
            return out
        all_messages = messages(slice(None))
        ctx.save_for_backward(all_messages, src, dst)
        ctx.num_nodes = x.size(0)  # type: ignore[attr-defined]
        return out.index_add_(0, dst, all_messages)

    @staticmethod
    def backward(ctx, grad_out: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        messages, src, dst = ctx.saved_tensors  # type: ignore[attr-defined]
        grad_messages = grad_out.index_select(0, dst) * (messages > 0)
        grad_x = None
        if ctx.needs_input_grad[0]:
            num_nodes = ctx.num_nodes  # type: ignore[attr-defined]
            grad_x = grad_out.new_zeros(num_nodes, grad_out.size(1)).index_add_(0, src, grad_messages)
        return grad_x, grad_messages if ctx.needs_input_grad[1] else None, None, None


def gine_aggregate(x: Tensor, edge_attr: Tensor, edge_index: Tensor) -> Tensor:
    r"""GINE's neighbourhood sum :math:`\sum_{j \in \mathcal{N}(i)} \mathrm{ReLU}(x_j + e_{j,i})`.

    Args:
        x: ``[N, C]`` node features.
        edge_attr: ``[E, C]`` edge features (already mapped to width ``C``).
        edge_index: ``[2, E]`` source and target of every edge.

    Returns:
        ``[N, C]``; equal to PyG's ``GINEConv`` aggregation (same summation order).
    """
    return _GINEAggregate.apply(x, edge_attr, edge_index[0], edge_index[1])


class GINE(LocalMessagePassing):
    r"""GINE conv from Hu et al., `"Strategies for Pre-training Graph Neural
    Networks" <https://arxiv.org/abs/1905.12211>`_ (ICLR 2020), as used in the
    local slot of GraphGPS (Rampášek et al., NeurIPS 2022):

    .. math::
        \mathbf{x}'_i = \mathrm{MLP}\Big((1 + \epsilon)\,\mathbf{x}_i +
        \sum_{j \in \mathcal{N}(i)} \mathrm{ReLU}(\mathbf{x}_j + \mathbf{W}_e\,\mathbf{e}_{j,i})\Big)

    with :math:`\mathbf{W}_e` the identity when the edge features already have
    width ``channels`` (as in GraphGPS) and a learned linear map otherwise.

    The PyG conv is kept as :attr:`conv` (a :class:`torch_geometric.nn.GINEConv`),
    so weights copy to and from PyG's own conv (and
    :class:`torch_geometric.nn.GPSConv`) by ``state_dict``. The aggregation
    runs as :func:`gine_aggregate` (one autograd function, the same values as
    ``GINEConv``'s ``propagate``). Edge features pass through unchanged.

    Args:
        channels: node width ``C`` (input and output).
        edge_dim: edge feature width; ``None`` (default) means ``C``.
        mlp: the MLP applied after aggregation (default: :func:`gps_mlp`).
        train_eps: learn :math:`\epsilon` (default: ``False``, :math:`\epsilon = 0`).

    Shapes:
        x ``[N, C]``, edge_index ``[2, E]``, edge_attr ``[E, edge_dim]`` ->
        (``[N, C]`` update, the same ``edge_attr``).
    """

    uses_edge_attr = True

    def __init__(
        self,
        channels: int,
        *,
        edge_dim: int | None = None,
        mlp: nn.Module | None = None,
        train_eps: bool = False,
    ) -> None:
        super().__init__()
        self.channels = channels
        self.edge_dim = channels if edge_dim is None else edge_dim
        self.train_eps = train_eps
        self.custom_mlp = mlp is not None
        # GINEConv adds an edge linear only when given edge_dim: skip it when widths agree.
        lin_dim = None if self.edge_dim == channels else self.edge_dim
        self.conv = GINEConv(mlp if mlp is not None else gps_mlp(channels), train_eps=train_eps, edge_dim=lin_dim)

    def reset_parameters(self) -> None:
        self.conv.reset_parameters()

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: OptTensor = None) -> tuple[Tensor, OptTensor]:
        edge_attr = self._check_edge_attr(edge_index, edge_attr)
        self._check_width("x", x, self.channels)
        self._check_width("edge_attr", edge_attr, self.edge_dim)
        conv = self.conv
        edge = edge_attr if conv.lin is None else conv.lin(edge_attr)
        out = gine_aggregate(x, edge, edge_index) + (1 + conv.eps) * x
        return conv.nn(out), edge_attr

    def __repr__(self) -> str:
        mlp = f", mlp={self.conv.nn}" if self.custom_mlp else ""
        return f"{type(self).__name__}({self.channels}, edge_dim={self.edge_dim}, train_eps={self.train_eps}{mlp})"
