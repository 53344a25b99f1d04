r"""Convolution as message passing: one weight per kernel offset, sum aggregation."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["RelationalGridConv"]


class RelationalGridConv(nn.Module):
    r"""Relational message passing with one weight matrix per relation and sum aggregation.

    .. math::
        \mathbf{x}'_i = \mathbf{b} + \sum_{r=1}^{R} \sum_{j \in \mathcal{N}_r(i)}
        \mathbf{W}_r^\top \mathbf{x}_j

    the R-GCN update (Schlichtkrull et al., 2018, "Modeling Relational Data with
    Graph Convolutional Networks", https://arxiv.org/abs/1703.06103) with two
    deviations that make it a 2-D convolution: sum instead of mean aggregation
    and no separate root weight (the centre offset is an ordinary relation, a
    self-loop). On the pixel grid of
    :func:`~graphformers.transforms.image.grid_edges`, where relation
    ``r = ky k + kx`` is a kernel offset, it equals ``torch.nn.Conv2d`` with
    ``W_r = conv.weight[:, :, ky, kx]^T`` (see :meth:`load_from_conv2d`);
    strided convolutions use the bipartite grid and ``size``.

    Two exact evaluation orders, chosen per call:

    * when every destination has at most one in-edge per relation (true on
      every pixel grid: one neighbour per offset), the graph form of
      ``im2col``: gather the neighbours into a ``[N_dst, R C_in]`` matrix
      (missing edges read a zero row) and multiply once by the stacked
      weights, no scatter at all;
    * otherwise (general relational graphs), one matmul ``X [W_1 ... W_R]``,
      a gather of the ``(source, relation)`` rows and a scatter-add into the
      destinations.

    The test is exact and cheap: the edges are written into an
    ``[N_dst, R]`` slot table, and the first order applies iff no two edges
    share a slot.

    Args:
        in_channels: ``C_in``.
        out_channels: ``C_out``.
        num_relations: ``R`` (``k * k`` for a ``k x k`` kernel).
        bias: learn the additive bias ``b``.

    Shapes:
        - x: ``[N_src, C_in]``; edge_index: ``[2, E]``; edge_type: ``[E]`` in ``0..R-1``
          (anything else raises :class:`ValueError`)
        - output: ``[N_dst, C_out]`` (``N_dst = size[1]``, default ``N_src``)
    """

    def __init__(self, in_channels: int, out_channels: int, num_relations: int, bias: bool = True) -> None:
        super().__init__()
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels), ("num_relations", num_relations)):
            if value < 1:
                raise ValueError(f"{name} must be positive, got {value}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.num_relations = num_relations
        self.weight = nn.Parameter(torch.empty(num_relations, in_channels, out_channels))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The initialisation of ``torch.nn.Conv2d`` (fan-in ``C_in * R``)."""
        fan_in = self.in_channels * self.num_relations
        bound = 1.0 / math.sqrt(fan_in)  # kaiming_uniform(a=sqrt(5)) bound = sqrt(6 / ((1 + 5) fan_in))
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(
        self, x: Tensor, edge_index: Tensor, edge_type: Tensor, size: tuple[int, int] | None = None
    ) -> Tensor:
        if x.dim() != 2 or x.size(1) != self.in_channels:
            raise ValueError(f"{self}: expected x of shape [N, {self.in_channels}], got {tuple(x.shape)}")
        if edge_type.dim() != 1 or edge_type.numel() != edge_index.size(1):
            raise ValueError(
                f"{self}: 'edge_type' must have one entry per edge ({edge_index.size(1)}), got {tuple(edge_type.shape)}"
            )
        R, C = self.num_relations, self.out_channels
        if edge_type.numel():
            lo, hi = (int(v) for v in torch.aminmax(edge_type))
            if lo < 0 or hi >= R:  # would wrap into another node's slot or index past the weights
                bad = lo if lo < 0 else hi
                raise ValueError(
                    f"{self}: 'edge_type' must be in 0..{R - 1} (num_relations={R}), got {bad} "
                    "(a pixel grid built for a k x k kernel has k * k relations)"
                )
        num_src, num_dst = x.size(0), x.size(0) if size is None else int(size[1])
        src, dst = edge_index[0], edge_index[1]
        slot = dst * R + edge_type
        table = torch.full((num_dst * R,), num_src, dtype=torch.long, device=x.device)
        table[slot] = src
        if int((table != num_src).sum()) == src.numel():  # at most one edge per (dst, relation)
            # im2col: row i holds [x_{j_1}, ..., x_{j_R}] (zeros where there is no edge)
            padded = torch.cat([x, x.new_zeros(1, self.in_channels)])
            cols = padded.index_select(0, table).view(num_dst, R * self.in_channels)
            out = cols @ self.weight.reshape(R * self.in_channels, C)
        else:
            # (N, C_in) @ (C_in, R C_out) -> (N R, C_out): row n R + r is W_r^T x_n
            h = (x @ self.weight.permute(1, 0, 2).reshape(self.in_channels, R * C)).view(-1, C)
            msg = h.index_select(0, src * R + edge_type)  # (E, C_out)
            out = x.new_zeros(num_dst, C).index_add_(0, dst, msg)
        return out if self.bias is None else out + self.bias

    @torch.no_grad()
    def load_from_conv2d(self, conv: nn.Conv2d) -> RelationalGridConv:
        """Copy the weights of a square-kernel ``torch.nn.Conv2d`` (``groups=1``)."""
        k = conv.kernel_size[0]
        if (
            conv.kernel_size != (k, k)
            or k * k != self.num_relations
            or conv.in_channels != self.in_channels
            or conv.out_channels != self.out_channels
            or conv.groups != 1
            or (conv.bias is None) != (self.bias is None)
        ):
            raise ValueError(f"cannot copy {conv} into {self}: shapes differ")
        # (C_out, C_in, k, k) -> (k k, C_in, C_out), relation ky k + kx
        self.weight.copy_(conv.weight.permute(2, 3, 1, 0).reshape(k * k, self.in_channels, self.out_channels))
        if self.bias is not None and conv.bias is not None:
            self.bias.copy_(conv.bias)
        return self

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.in_channels}, {self.out_channels}, "
            f"num_relations={self.num_relations}, bias={self.bias is not None})"
        )

