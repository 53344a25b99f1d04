"""GIN and GINE: the Graph Isomorphism Network convs behind the local signature."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.nn import GINConv, GINEConv

from graphformers.local.base import LocalMessagePassing
from graphformers.typing import OptTensor
from graphformers.utils.chunks import is_rowwise, needs_autograd, row_chunks, widest_row


def gps_mlp(channels: int) -> nn.Sequential:
    """The MLP GraphGPS puts inside GINE: ``Linear(C, C) -> ReLU -> Linear(C, C)``."""
    return nn.Sequential(nn.Linear(channels, channels), nn.ReLU(), nn.Linear(channels, channels))


class _NeighbourSum(torch.autograd.Function):
    r"""``out_i = sum_{j->i} m_ji`` with ``m_ji = ReLU(x_j + e_ji)`` (GINE) or
    ``m_ji = x_j`` (GIN, ``edge_attr=None``), its backward written out.

    GINE keeps one ``[E, C]`` message buffer (gathered, shifted and rectified in
    place) for the backward, where PyG's ``propagate`` keeps the gathered
    ``x_j``, the sum and the ReLU output and scatters through an expanded index;
    GIN keeps no edge-sized tensor at all. When no input needs a gradient
    (inference) the edges go in chunks of
    :data:`~graphformers.utils.chunks.INFERENCE_CHUNK_ELEMENTS`
    values and no ``[E, C]`` buffer exists; the sum is the same, added in the
    same order."""

    @staticmethod
    def forward(ctx, x: Tensor, edge_attr: Tensor | None, src: Tensor, dst: Tensor) -> Tensor:  # type: ignore[override]
        # in the promoted dtype, as x_j + e would be (e.g. half x, float edges under autocast)
        dtype = x.dtype if edge_attr is None else torch.promote_types(x.dtype, edge_attr.dtype)
        out = torch.zeros(x.size(0), x.size(1), dtype=dtype, device=x.device)

        def messages(part: slice) -> Tensor:  # the messages of the edges in ``part``
            gathered = x.index_select(0, src[part]).to(dtype)
            return gathered if edge_attr is None else gathered.add_(edge_attr[part]).relu_()

        ctx.num_nodes = x.size(0)  # type: ignore[attr-defined]
        ctx.gine = edge_attr is not None  # type: ignore[attr-defined]
        if edge_attr is None or not any(ctx.needs_input_grad[:2]):
            # GIN's backward needs only the indices, inference nothing: edges in chunks
            ctx.save_for_backward(src, dst)
            for part in row_chunks(src.numel(), x.size(1)):
                out.index_add_(0, dst[part], messages(part))
            return out
        all_messages = messages(slice(None))
        ctx.save_for_backward(src, dst, all_messages)
        return out.index_add_(0, dst, all_messages)

    @staticmethod
    def backward(ctx, grad_out: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        src, dst, *saved = ctx.saved_tensors  # type: ignore[attr-defined]
        grad_messages = grad_out.index_select(0, dst)
        if ctx.gine:  # type: ignore[attr-defined]
            # ReLU's backward from its output (one pass; multiplying by a bool mask casts it first)
            grad_messages = torch.ops.aten.threshold_backward(grad_messages, saved[0], 0)
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
    return _NeighbourSum.apply(x, edge_attr, edge_index[0], edge_index[1])


def neighbour_sum(x: Tensor, edge_index: Tensor) -> Tensor:
    r"""GIN's neighbourhood sum :math:`\sum_{j \in \mathcal{N}(i)} x_j`: ``[N, C]``,
    equal to PyG's ``GINConv`` aggregation; no ``[E, C]`` tensor is kept for
    the backward, and none is made in inference."""
    return _NeighbourSum.apply(x, None, edge_index[0], edge_index[1])


def gin_update(conv: nn.Module, x: Tensor, aggregate: Tensor) -> Tensor:
    r"""``MLP((1 + eps) x + aggregate)`` with ``conv.nn`` and ``conv.eps`` of a PyG
    ``GINConv``/``GINEConv``.

    Without autograd, with a row-wise MLP (:func:`~graphformers.utils.chunks.is_rowwise`)
    and more rows than one chunk, it runs in row chunks, in place on
    ``aggregate`` (which the caller hands over): no ``[N, C]`` temporaries.
    Otherwise it is the plain composition."""
    mlp = conv.nn
    N = aggregate.size(0)
    chunks = list(row_chunks(N, widest_row(mlp, aggregate.size(1))))
    if len(chunks) == 1 or needs_autograd(conv, x, aggregate) or not is_rowwise(mlp):
        return mlp(aggregate + (1 + conv.eps) * x)
    alpha = float(1 + conv.eps)
    out = aggregate
    for i, rows in enumerate(chunks):
        part = mlp(aggregate[rows].add_(x[rows], alpha=alpha))
        if i == 0 and part.size(1) != aggregate.size(1):  # the MLP changes the width
            out = aggregate.new_empty(N, part.size(1))
        out[rows] = part
    return out


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
        return gin_update(conv, x, gine_aggregate(x, edge, edge_index)), edge_attr

    def __repr__(self) -> str:
        mlp = f", mlp={self.conv.nn}" if self.custom_mlp else ""
        return f"{type(self).__name__}({self.channels}, edge_dim={self.edge_dim}, train_eps={self.train_eps}{mlp})"


class GIN(LocalMessagePassing):
    r"""GIN conv from Xu et al., `"How Powerful are Graph Neural Networks?"
    <https://arxiv.org/abs/1810.00826>`_ (ICLR 2019), one of the local modules
    of GraphGPS (Rampášek et al., NeurIPS 2022) for graphs without edge features:

    .. math::
        \mathbf{x}'_i = \mathrm{MLP}\Big((1 + \epsilon)\,\mathbf{x}_i +
        \sum_{j \in \mathcal{N}(i)} \mathbf{x}_j\Big)

    The PyG conv is kept as :attr:`conv` (a :class:`torch_geometric.nn.GINConv`),
    so weights copy to and from it by ``state_dict``. The sum runs as
    :func:`neighbour_sum` (no ``[E, C]`` tensor kept for the backward); in
    inference it and a row-wise MLP run in chunks (:mod:`graphformers.utils.chunks`),
    so a graph of a million nodes needs no edge- or node-sized temporaries.
    ``edge_attr`` is ignored and passed through.

    Args:
        channels: node width ``C`` (input and output).
        mlp: the MLP applied after aggregation (default: :func:`gps_mlp`).
        train_eps: learn :math:`\epsilon` (default: ``False``, :math:`\epsilon = 0`).

    Shapes:
        x ``[N, C]``, edge_index ``[2, E]`` -> (``[N, C]`` update, ``edge_attr`` unchanged).
    """

    def __init__(self, channels: int, *, mlp: nn.Module | None = None, train_eps: bool = False) -> None:
        super().__init__()
        self.channels = channels
        self.train_eps = train_eps
        self.custom_mlp = mlp is not None
        self.conv = GINConv(mlp if mlp is not None else gps_mlp(channels), train_eps=train_eps)

    def reset_parameters(self) -> None:
        self.conv.reset_parameters()

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: OptTensor = None) -> tuple[Tensor, OptTensor]:
        self._check_width("x", x, self.channels)
        if edge_index.dim() != 2 or edge_index.size(0) != 2:
            raise ValueError(f"{type(self).__name__}: 'edge_index' must have shape [2, E], got {list(edge_index.shape)}")
        return gin_update(self.conv, x, neighbour_sum(x, edge_index)), edge_attr

    def __repr__(self) -> str:
        mlp = f", mlp={self.conv.nn}" if self.custom_mlp else ""
        return f"{type(self).__name__}({self.channels}, train_eps={self.train_eps}{mlp})"
