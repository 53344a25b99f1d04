r"""Sequences as graphs: the complete graph (encoder) and the causal DAG (decoder).

A Transformer encoder is a graph transformer on the complete graph of its
tokens (every token attends to every token); a causal language model is one on
the causal DAG, an edge ``j -> i`` for every ``j <= i``. The token order, which
the graph forgets, comes back as positions: a node attribute ``position``
(for sinusoidal or learned encodings) and optionally the edge attribute
``rel_pos = i - j`` (for relative encodings such as T5's attention bias).

Edges are ordered destination-major (all in-edges of node 0, then of node 1,
...), and the sets carry no duplicate edges, which lets
:func:`graphformers.blocks.transformer.graph_attention_mask` recognise a
complete graph from its edge count alone.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.transforms import BaseTransform

__all__ = ["SequenceToGraph", "causal_edge_index", "complete_edge_index", "sinusoidal_encoding"]


def _check_length(num_nodes: int) -> None:
    if int(num_nodes) < 0:
        raise ValueError(f"num_nodes must be non-negative, got {num_nodes}")


def complete_edge_index(num_nodes: int, *, device: torch.device | None = None) -> Tensor:
    """All ``num_nodes ** 2`` edges ``j -> i`` (self-loops included), destination-major.

    Returns:
        ``[2, L^2]`` long; column ``i L + j`` is the edge ``j -> i``.
    """
    _check_length(num_nodes)
    idx = torch.arange(num_nodes, device=device)
    return torch.stack([idx.repeat(num_nodes), idx.repeat_interleave(num_nodes)])


def causal_edge_index(num_nodes: int, *, device: torch.device | None = None) -> Tensor:
    """The causal DAG: edges ``j -> i`` for all ``j <= i``, destination-major.

    Returns:
        ``[2, L (L + 1) / 2]`` long.
    """
    _check_length(num_nodes)
    dst, src = torch.tril_indices(num_nodes, num_nodes, device=device)
    return torch.stack([src, dst])


def sinusoidal_encoding(position: Tensor, channels: int, *, base: float = 10000.0) -> Tensor:
    r"""The fixed positional encoding of Vaswani et al. (2017), "Attention Is All You Need".

    .. math::
        \mathrm{PE}(p, 2k) = \sin(p / b^{2k/C}), \qquad \mathrm{PE}(p, 2k+1) = \cos(p / b^{2k/C})

    Args:
        position: ``[N]`` positions (any real values).
        channels: ``C`` (even).
        base: ``b`` (default: 10000).

    Returns:
        ``[N, C]`` float.
    """
    if channels < 2 or channels % 2:
        raise ValueError(f"channels must be a positive even number, got {channels}")
    freq = torch.exp(torch.arange(0, channels, 2, device=position.device) * (-math.log(base) / channels))
    angle = position.to(torch.float32).unsqueeze(-1) * freq  # [N, C/2]
    return torch.stack([angle.sin(), angle.cos()], dim=-1).reshape(-1, channels)


class SequenceToGraph(BaseTransform):
    r"""Turn a sequence (``data.x``: ``[L]`` token ids or ``[L, F]`` features) into a graph.

    Adds ``edge_index`` (complete graph, or with ``causal=True`` the causal DAG
    ``j -> i`` for ``j <= i``) and the node attribute ``position = 0..L-1``;
    with ``relative=True`` also the edge attribute ``rel_pos = i - j`` (long).

    Args:
        causal: build the causal DAG instead of the complete graph.
        relative: add ``rel_pos`` to every edge.

    Example:
        >>> data = SequenceToGraph(causal=True)(Data(x=torch.tensor([5, 3, 9])))
        >>> data.edge_index
        tensor([[0, 0, 1, 0, 1, 2],
                [0, 1, 1, 2, 2, 2]])
    """

    def __init__(self, causal: bool = False, relative: bool = False) -> None:
        self.causal = causal
        self.relative = relative

    def forward(self, data: Data) -> Data:
        x = getattr(data, "x", None)
        if not isinstance(x, Tensor) or x.dim() not in (1, 2):
            raise ValueError("SequenceToGraph needs 'data.x' of shape [L] (token ids) or [L, F] (features)")
        L = x.size(0)
        build = causal_edge_index if self.causal else complete_edge_index
        data.edge_index = build(L, device=x.device)
        data.position = torch.arange(L, device=x.device)
        if self.relative:
            data.rel_pos = data.edge_index[1] - data.edge_index[0]
        data.num_nodes = L
        return data

    def __repr__(self) -> str:
        return f"{type(self).__name__}(causal={self.causal}, relative={self.relative})"
