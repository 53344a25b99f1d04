"""The Graph Transformer layer of Dwivedi & Bresson: attention over graph edges."""

from __future__ import annotations

import inspect
import math
from typing import Callable

import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.utils import scatter, softmax

from graphformers.blocks.feed_forward import FeedForward
from graphformers.local.norm import batch_norm
from graphformers.typing import OptTensor
from graphformers.utils.modules import reset_module

NormFactory = Callable[[int], nn.Module]


class _Norm(nn.Module):
    """A norm that is handed ``batch`` when its ``forward`` takes it (PyG's
    graph-wise norms) and called on the features alone otherwise."""

    def __init__(self, norm: NormFactory | None, channels: int) -> None:
        super().__init__()
        self.norm = norm(channels) if norm is not None else nn.Identity()
        self.takes_batch = "batch" in inspect.signature(self.norm.forward).parameters

    def reset_parameters(self) -> None:
        reset_module(self.norm)

    def forward(self, x: Tensor, batch: OptTensor) -> Tensor:
        return self.norm(x, batch) if self.takes_batch else self.norm(x)


class GraphTransformerLayer(nn.Module):
    r"""Graph Transformer layer from Dwivedi & Bresson, `"A Generalization of
    Transformer Networks to Graphs" <https://arxiv.org/abs/2012.09699>`_ (AAAI
    DLG workshop 2021): multi-head attention restricted to graph edges.

    Without edge features (the paper's Eq. 4-9), for an edge :math:`j \to i`
    (``edge_index[0] = j``, ``edge_index[1] = i``) and head :math:`k` of width
    :math:`d_k = C / H`:

    .. math::
        w_{ij}^k &= \mathrm{softmax}_{j \in \mathcal{N}(i)}\Big(
            \frac{Q^k h_i \cdot K^k h_j}{\sqrt{d_k}}\Big), \qquad
        \hat h_i = O_h \big\Vert_{k=1}^{H} \sum_{j \in \mathcal{N}(i)} w_{ij}^k V^k h_j \\
        h_i' &= \mathrm{Norm}(h_i + \hat h_i), \qquad
        h_i'' = \mathrm{Norm}(h_i' + \mathrm{FFN}(h_i'))

    With edge features (Eq. 10-17, ``edge_dim`` set) the score is modulated per
    dimension by the projected edge and also becomes the edge update:

    .. math::
        \hat w_{ij}^k &= \frac{Q^k h_i \odot K^k h_j}{\sqrt{d_k}} \odot E^k e_{ij}
            \in \mathbb{R}^{d_k}, \qquad
        w_{ij}^k = \mathrm{softmax}_{j}\Big(\textstyle\sum_{d} \hat w_{ij,d}^k\Big) \\
        \hat e_{ij} &= O_e \big\Vert_{k} \hat w_{ij}^k, \qquad
        e_{ij}' = \mathrm{Norm}(e_{ij} + \hat e_{ij}), \qquad
        e_{ij}'' = \mathrm{Norm}(e_{ij}' + \mathrm{FFN}_e(e_{ij}'))

    Attention is sparse: scores are computed per edge and normalised with
    :func:`torch_geometric.utils.softmax` (``O(E)`` memory), so a node never
    attends to a non-neighbour, nor to itself unless ``edge_index`` has a self
    loop. A node without in-edges gets :math:`\hat h_i = O_h(0)`.

    Departures from the authors' code (graphdeeplearning/graphtransformer): the
    scores there are clamped to ``[-5, 5]`` before ``exp`` for numerical
    safety; here the softmax is exact (max-subtracted). The FFN
    (:class:`~graphformers.blocks.feed_forward.FeedForward`, width ``2C``) also
    drops out its output. ``edge_dim`` may differ from ``C`` (the paper keeps
    both at ``d``): :math:`E` maps ``edge_dim -> C`` and :math:`O_e` maps back.

    Args:
        channels: node width ``C`` (divisible by ``heads``).
        heads: number of heads ``H``.
        edge_dim: edge width; ``None`` (default) for the edge-free variant,
            which passes ``edge_attr`` through untouched.
        dropout: dropout on the attention output (before :math:`O_h`,
            :math:`O_e`) and inside the FFNs.
        norm: a factory ``width -> nn.Module`` for the four norms (default
            :func:`~graphformers.local.norm.batch_norm`, the paper's
            best choice, safe on one-row batches;
            :class:`torch.nn.LayerNorm` for the other variant; norms whose
            ``forward`` takes ``batch``, like PyG's graph norms, are given it;
            ``None`` = no norm).
        update_edges: compute the edge update (default ``True``); ``False``
            lets the edges modulate attention but returns ``edge_attr``
            unchanged, for a last layer whose edge output nobody reads (it then
            has no unused ``O_e``/edge-FFN parameters).

    Shapes:
        x ``[N, C]``, edge_index ``[2, E]``, edge_attr ``[E, edge_dim]`` or
        ``None``, batch ``[N]`` or ``None`` -> (``[N, C]``, ``[E, edge_dim]``
        or the input ``edge_attr``).
    """

    def __init__(
        self,
        channels: int,
        heads: int,
        *,
        edge_dim: int | None = None,
        dropout: float = 0.0,
        norm: NormFactory | None = batch_norm,
        update_edges: bool = True,
    ) -> None:
        super().__init__()
        if channels % heads != 0:
            raise ValueError(f"GraphTransformerLayer: 'channels' ({channels}) must be divisible by 'heads' ({heads})")
        self.channels = channels
        self.heads = heads
        self.edge_dim = edge_dim
        self.dropout = dropout
        self.update_edges = update_edges and edge_dim is not None
        # the paper's Q, K, V, E have no bias; the output maps O_h, O_e do
        self.Q = nn.Linear(channels, channels, bias=False)
        self.K = nn.Linear(channels, channels, bias=False)
        self.V = nn.Linear(channels, channels, bias=False)
        self.O_h = nn.Linear(channels, channels)
        self.norm1 = _Norm(norm, channels)
        self.ffn = FeedForward(channels, 2 * channels, dropout)
        self.norm2 = _Norm(norm, channels)
        if edge_dim is not None:
            self.E = nn.Linear(edge_dim, channels, bias=False)
        if self.update_edges:
            self.O_e = nn.Linear(channels, edge_dim)
            self.norm1_e = _Norm(norm, edge_dim)
            self.ffn_e = FeedForward(edge_dim, 2 * edge_dim, dropout)
            self.norm2_e = _Norm(norm, edge_dim)

    def reset_parameters(self) -> None:
        for module in self.children():
            module.reset_parameters()  # type: ignore[operator]

    def forward(
        self, x: Tensor, edge_index: Tensor, edge_attr: OptTensor = None, batch: OptTensor = None
    ) -> tuple[Tensor, OptTensor]:
        name = type(self).__name__
        if x.dim() != 2 or x.size(1) != self.channels:
            raise ValueError(f"{name}: 'x' must have shape [N, {self.channels}], got {list(x.shape)}")
        if self.edge_dim is not None:
            if edge_attr is None:
                raise ValueError(f"{name} was built with edge_dim={self.edge_dim} and needs 'edge_attr', got None")
            if edge_attr.dim() != 2 or edge_attr.shape != (edge_index.size(1), self.edge_dim):
                raise ValueError(
                    f"{name}: 'edge_attr' must have shape [{edge_index.size(1)}, {self.edge_dim}], "
                    f"got {list(edge_attr.shape)}"
                )
        n, h, d = x.size(0), self.heads, self.channels // self.heads
        src, dst = edge_index  # j -> i
        q, k, v = (lin(x).view(n, h, d) for lin in (self.Q, self.K, self.V))
        w_hat = q[dst] * k[src] / math.sqrt(d)  # [E, H, d]
        if self.edge_dim is not None:
            w_hat = w_hat * self.E(edge_attr).view(-1, h, d)
        alpha = softmax(w_hat.sum(-1), dst, num_nodes=n)  # [E, H]
        out = scatter(alpha.unsqueeze(-1) * v[src], dst, dim=0, dim_size=n, reduce="sum")  # [N, H, d]

        out = self.O_h(F.dropout(out.reshape(n, self.channels), self.dropout, self.training))
        x = self.norm1(x + out, batch)
        x = self.norm2(x + self.ffn(x), batch)

        if self.update_edges:
            edge_batch = batch[src] if batch is not None else None
            e = self.O_e(F.dropout(w_hat.reshape(-1, self.channels), self.dropout, self.training))
            e = self.norm1_e(edge_attr + e, edge_batch)
            edge_attr = self.norm2_e(e + self.ffn_e(e), edge_batch)
        return x, edge_attr

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.channels}, heads={self.heads}, "
            f"edge_dim={self.edge_dim}, dropout={self.dropout}"
            f"{', update_edges=False' if self.edge_dim is not None and not self.update_edges else ''})"
        )
