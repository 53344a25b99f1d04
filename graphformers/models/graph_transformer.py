"""The Graph Transformer model of Dwivedi & Bresson (2021)."""

from __future__ import annotations

from typing import Callable

import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import Data

from graphformers.blocks.graph_transformer import GraphTransformerLayer
from graphformers.heads.readout import read_out
from graphformers.local.norm import batch_norm
from graphformers.utils.checks import check_encoder_input, check_graph
from graphformers.utils.modules import reset_module

NormFactory = Callable[[int], nn.Module]


class GraphTransformer(nn.Module):
    r"""Graph Transformer from Dwivedi & Bresson, `"A Generalization of
    Transformer Networks to Graphs" <https://arxiv.org/abs/2012.09699>`_ (AAAI
    DLG workshop 2021): input embeddings plus Laplacian PE, ``L`` sparse
    :class:`~graphformers.blocks.graph_transformer.GraphTransformerLayer`\ s,
    and a task head.

    ::

        h⁰ = Dropout(node_encoder(data.x) + pe_encoder(data))      (paper Eq. 1-3)
        e⁰ = edge_encoder(data.edge_attr)                           (Eq. 10, if given)
        hˡ, eˡ = GraphTransformerLayerˡ(hˡ⁻¹, edge_index, eˡ⁻¹, batch)
        out = head(hᴸ, batch)

    With an ``edge_encoder`` the layers use the edge channel (``edge_dim = C``),
    without one they are the edge-free variant and ``data.edge_attr`` is
    ignored; the last layer skips the (unread) edge update. The Laplacian PE is *added* to the node embedding, as in the paper
    (GraphGPS concatenates instead); its random sign flip in training belongs
    to ``pe_encoder`` (e.g. :class:`graphformers.encodings.LinearLapPE` reading
    what :class:`graphformers.transforms.positional.AddLaplacianPE` stored).
    The paper's graph read-out (mean pooling + MLP) is a
    :class:`graphformers.heads.GraphHead` with ``pool="mean"``.

    Args:
        node_encoder: module ``data.x -> [N, C]``.
        channels: hidden width ``C``.
        heads: attention heads per layer.
        num_layers: ``L``.
        head: module ``(x [N, C], batch [N]) -> out``.
        edge_encoder: module ``data.edge_attr -> [E, C]`` or ``None``.
        pe_encoder: module ``data -> [N, C]`` added to the node embedding, or
            ``None`` (no positional encoding).
        dropout: dropout inside the layers.
        input_dropout: dropout on the input embedding (the paper's
            ``in_feat_dropout``).
        norm: norm factory of the layers (default
            :func:`~graphformers.local.norm.batch_norm`).

    Shapes:
        ``data.x [N, *]``, ``data.edge_index [2, E]``, ``data.batch [N]`` ->
        ``[N, out]`` (node head) or ``[B, out]`` (graph head).
    """

    #: the paper this model implements (listed by ``graphformers ls models``).
    citation: str = "Dwivedi & Bresson, A Generalization of Transformer Networks to Graphs, AAAI DLG Workshop 2021"

    def __init__(
        self,
        node_encoder: nn.Module,
        channels: int,
        heads: int,
        num_layers: int,
        head: nn.Module,
        *,
        edge_encoder: nn.Module | None = None,
        pe_encoder: nn.Module | None = None,
        dropout: float = 0.0,
        input_dropout: float = 0.0,
        norm: NormFactory | None = batch_norm,
    ) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"GraphTransformer: 'num_layers' must be >= 1, got {num_layers}")
        self.channels = channels
        self.input_dropout = input_dropout
        self.node_encoder = node_encoder
        self.edge_encoder = edge_encoder
        self.pe_encoder = pe_encoder
        edge_dim = channels if edge_encoder is not None else None
        self.layers = nn.ModuleList(
            # the last layer's edge output is never read: it only lets edges modulate attention
            GraphTransformerLayer(
                channels, heads, edge_dim=edge_dim, dropout=dropout, norm=norm, update_edges=i < num_layers - 1
            )
            for i in range(num_layers)
        )
        self.head = head

    def reset_parameters(self) -> None:
        for module in (self.node_encoder, self.edge_encoder, self.pe_encoder, *self.layers, self.head):
            if module is not None:
                reset_module(module)

    def _embed_input(self, data: Data) -> Tensor:
        check_encoder_input(self.node_encoder, data.x, "data.x")
        x = self.node_encoder(data.x)
        if self.pe_encoder is not None:
            pe = self.pe_encoder(data)
            if pe.shape != x.shape:
                raise ValueError(
                    f"{type(self).__name__}: 'pe_encoder' outputs shape {list(pe.shape)}, "
                    f"but the node embedding has shape {list(x.shape)}"
                )
            x = x + pe
        if x.dim() != 2 or x.size(1) != self.channels:
            raise ValueError(
                f"{type(self).__name__}: 'node_encoder' outputs shape {list(x.shape)}, "
                f"but the layers expect [N, {self.channels}]"
            )
        return F.dropout(x, self.input_dropout, self.training)

    def embed(self, data: Data) -> Tensor:
        """Node representations after the last layer, ``[N, C]``."""
        batch = getattr(data, "batch", None)
        edge_attr = getattr(data, "edge_attr", None)
        check_graph(data.x, data.edge_index, edge_attr=edge_attr, batch=batch, where=type(self).__name__)
        x = self._embed_input(data)
        if self.edge_encoder is not None:
            if edge_attr is None:
                raise ValueError(f"{type(self).__name__} has an 'edge_encoder' but data has no 'edge_attr'")
            check_encoder_input(self.edge_encoder, edge_attr, "data.edge_attr")
            edge_attr = self.edge_encoder(edge_attr)
        else:
            edge_attr = None
        for layer in self.layers:
            x, edge_attr = layer(x, data.edge_index, edge_attr, batch)
        return x

    def forward(self, data: Data) -> Tensor:
        return read_out(self.head, self.embed(data), data)

    def __repr__(self) -> str:
        layer = self.layers[0]
        return (
            f"{type(self).__name__}({self.channels}, heads={layer.heads}, num_layers={len(self.layers)}, "
            f"edge_dim={layer.edge_dim}, pe={self.pe_encoder is not None}, dropout={layer.dropout})"
        )
