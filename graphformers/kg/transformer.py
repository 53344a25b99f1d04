"""A Transformer scorer over (entity, relation) tokens.

The query ``(h, r, ?)`` becomes the token sequence ``[e_h, w_r, MASK]`` (plus
learned position embeddings); a Transformer encoder contextualizes it and the
output at the ``MASK`` position is matched against every entity embedding, as
in CoKE (Wang et al., 2019) and the triple encoder of HittER (Chen et al., 2021).
HyperFormer generalizes it by appending qualifier tokens to the sequence:
:meth:`KGTransformer.encode` takes any ``[B, L, F]`` token sequence with a mask.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from graphformers.attention.full import MultiheadAttention
from graphformers.blocks.feed_forward import FeedForward
from graphformers.blocks.transformer import TransformerLayer


class KGTransformer(nn.Module):
    r"""CoKE-style Transformer scorer from `"CoKE: Contextualized Knowledge Graph
    Embedding" <https://arxiv.org/abs/1911.02168>`_ (Wang et al., 2019).

    .. math::
        z = \mathrm{Encoder}([e_h + p_0,\; w_r + p_1,\; m + p_2])_{2}, \quad
        f(h, r, t) = \langle \mathrm{LN}(W z),\, e_t \rangle + b_t

    The output projection shares (ties) the input entity embeddings, as CoKE does.
    The encoder is a stack of :class:`~graphformers.blocks.transformer.TransformerLayer`
    (our :class:`~graphformers.attention.full.MultiheadAttention` and
    :class:`~graphformers.blocks.feed_forward.FeedForward`) on the complete graph of
    each token sequence, i.e. a standard Transformer encoder.
    Deviation: we use pre-norm encoder layers (more stable at the small sizes
    used here) where CoKE uses post-norm BERT layers.

    Args:
        num_nodes: number of entities ``N``.
        num_relations: number of relations (``2R`` with reciprocal relations).
        hidden_channels: token width ``F``.
        num_layers: encoder layers (default: ``2``).
        heads: attention heads (default: ``4``).
        dropout: dropout in the encoder and on the input tokens (default: ``0.1``).
        ffn_ratio: feed-forward width as a multiple of ``F`` (default: ``2``).

    Shapes:
        score_all_tails: ``head_index [B]``, ``rel_type [B]`` -> ``[B, N]``.
    """

    citation = "Wang et al., CoKE: Contextualized Knowledge Graph Embedding, arXiv:1911.02168, 2019"

    def __init__(self, num_nodes: int, num_relations: int, hidden_channels: int = 64, *, num_layers: int = 2,
                 heads: int = 4, dropout: float = 0.1, ffn_ratio: int = 2) -> None:
        super().__init__()
        self.num_nodes = num_nodes
        self.num_relations = num_relations
        self.hidden_channels = hidden_channels
        self.num_layers = num_layers
        self.heads = heads
        self.dropout = dropout
        self.ffn_ratio = ffn_ratio
        self.node_emb = nn.Embedding(num_nodes, hidden_channels)
        self.rel_emb = nn.Embedding(num_relations, hidden_channels)
        self.mask_token = nn.Parameter(torch.empty(hidden_channels))
        self.pos_emb = nn.Embedding(3, hidden_channels)
        self.input_dropout = nn.Dropout(dropout)
        # the library's graph Transformer layer on the complete graph of each token
        # sequence (proven equal to torch.nn.TransformerEncoderLayer, see tests/special_cases)
        self.layers = nn.ModuleList(
            TransformerLayer(MultiheadAttention(hidden_channels, heads, dropout),
                             FeedForward(hidden_channels, ffn_ratio * hidden_channels, dropout),
                             hidden_channels, dropout=dropout, norm_first=True)
            for _ in range(num_layers)
        )
        self.out_proj = nn.Linear(hidden_channels, hidden_channels)
        self.out_norm = nn.LayerNorm(hidden_channels)
        self.bias = nn.Parameter(torch.empty(num_nodes))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for emb in (self.node_emb, self.rel_emb, self.pos_emb):
            nn.init.normal_(emb.weight, std=0.02)
        nn.init.normal_(self.mask_token, std=0.02)
        for layer in self.layers:
            layer.reset_parameters()
        self.out_proj.reset_parameters()
        self.out_norm.reset_parameters()
        nn.init.zeros_(self.bias)

    def encode(self, tokens: Tensor, mask: Tensor | None = None) -> Tensor:
        """Contextualize a token sequence.

        Args:
            tokens: ``[B, L, F]`` token embeddings (positions already added).
            mask: ``[B, L]`` bool, ``True`` = real token (``None`` = all real).

        Returns:
            ``[B, L, F]`` (zeros at padded positions).
        """
        B, L, F = tokens.shape
        x = self.input_dropout(tokens)
        seq = torch.arange(B, device=tokens.device).unsqueeze(1).expand(B, L)  # sequence id per token
        flat, batch = (x.reshape(B * L, F), seq.reshape(-1)) if mask is None else (x[mask], seq[mask])
        for layer in self.layers:  # each sequence is one complete graph: no edge_index needed
            flat = layer(flat, None, batch)
        if mask is None:
            return flat.view(B, L, F)
        return flat.new_zeros(B, L, F).index_put((mask.nonzero(as_tuple=True)), flat)

    def query_embedding(self, head_index: Tensor, rel_type: Tensor) -> Tensor:
        """The encoded ``MASK`` token of ``[e_h, w_r, MASK]``, projected: ``[B, F]``."""
        b = head_index.numel()
        tokens = torch.stack([self.node_emb(head_index), self.rel_emb(rel_type),
                              self.mask_token.expand(b, -1)], dim=1)  # [B, 3, F]
        tokens = tokens + self.pos_emb.weight.unsqueeze(0)
        z = self.encode(tokens)[:, 2]  # [B, F]
        return self.out_norm(self.out_proj(z))

    def score_all_tails(self, head_index: Tensor, rel_type: Tensor) -> Tensor:
        return self.query_embedding(head_index, rel_type) @ self.node_emb.weight.t() + self.bias

    def score(self, head_index: Tensor, rel_type: Tensor, tail_index: Tensor) -> Tensor:
        q = self.query_embedding(head_index, rel_type)
        return (q * self.node_emb(tail_index)).sum(-1) + self.bias[tail_index]

    def forward(self, head_index: Tensor, rel_type: Tensor, tail_index: Tensor) -> Tensor:
        return self.score(head_index, rel_type, tail_index)

    def regularization_factors(self, head_index: Tensor, rel_type: Tensor, tail_index: Tensor) -> list[Tensor]:
        return [self.node_emb(head_index), self.rel_emb(rel_type), self.node_emb(tail_index)]

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({self.num_nodes}, num_relations={self.num_relations}, "
                f"hidden_channels={self.hidden_channels}, num_layers={self.num_layers}, heads={self.heads})")
