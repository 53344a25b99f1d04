r"""Sequence models as graph models: an encoder on the complete graph, a decoder on the causal DAG.

Both stack :class:`~graphformers.blocks.transformer.TransformerLayer` (our
:class:`~graphformers.attention.full.MultiheadAttention` and
:class:`~graphformers.blocks.feed_forward.FeedForward`, the GraphGPS building
blocks) over graphs built by :class:`~graphformers.transforms.sequence.SequenceToGraph`.
Token order enters only through positions: node encodings of ``position``
(:class:`SinusoidalPositionEncoding`, :class:`LearnedPositionEncoding`) or an
attention bias from the edge attribute ``rel_pos = i - j``
(:class:`RelativePositionBias`). Without them the encoder is permutation
equivariant, exactly like a Transformer without positional encodings.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.utils import to_dense_adj

from graphformers.attention.full import MultiheadAttention
from graphformers.blocks.feed_forward import FeedForward
from graphformers.blocks.transformer import TransformerLayer, graph_attention_mask
from graphformers.transforms.sequence import sinusoidal_encoding
from graphformers.typing import OptTensor
from graphformers.utils.checks import out_of_range
from graphformers.utils.modules import reset_module

__all__ = [
    "CausalDecoder",
    "LearnedPositionEncoding",
    "RelativePositionBias",
    "SequenceEncoder",
    "SinusoidalPositionEncoding",
]


class SinusoidalPositionEncoding(nn.Module):
    """Fixed sine-cosine encoding of ``position [N] -> [N, C]`` (Vaswani et al., 2017)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels

    def reset_parameters(self) -> None:
        pass

    def forward(self, position: Tensor) -> Tensor:
        return sinusoidal_encoding(position, self.channels)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.channels})"


class LearnedPositionEncoding(nn.Module):
    """A learned vector per position ``0..max_positions-1`` (BERT, Devlin et al., 2019; GPT-2, Radford et al., 2019).

    Initialised ``N(0, 0.02^2)`` as in GPT-2 and ViT.
    """

    def __init__(self, max_positions: int, channels: int) -> None:
        super().__init__()
        self.max_positions = max_positions
        self.channels = channels
        self.embedding = nn.Embedding(max_positions, channels)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.embedding.weight, std=0.02)

    def forward(self, position: Tensor) -> Tensor:
        if position.numel() and int(position.max()) >= self.max_positions:
            raise ValueError(f"{self}: position {int(position.max())} is out of range")
        return self.embedding(position)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.max_positions}, {self.channels})"


class RelativePositionBias(nn.Module):
    r"""A learned attention bias per head and clipped relative position (Shaw et al., 2018;
    T5, Raffel et al., 2020), read from the edge attribute ``rel_pos = i - j``.

    .. math::
        B_{h, i, j} = w_{h, \mathrm{clip}(i - j, -K, K)} \quad \text{for every edge } j \to i

    Deviation from T5: distances are clipped, not log-bucketed.

    Args:
        heads: ``H``.
        max_distance: ``K``.
    """

    def __init__(self, heads: int, max_distance: int) -> None:
        super().__init__()
        self.heads = heads
        self.max_distance = max_distance
        self.weight = nn.Parameter(torch.zeros(2 * max_distance + 1, heads))

    def reset_parameters(self) -> None:
        nn.init.zeros_(self.weight)

    def forward(self, edge_index: Tensor, rel_pos: Tensor, batch: OptTensor, num_nodes: int) -> Tensor:
        """Returns the dense bias ``[B, H, L (query), L (key)]`` (0 where there is no edge).

        Args:
            edge_index: ``[2, E]``.
            rel_pos: ``[E]`` relative positions ``i - j``.
            batch: ``[N]`` sorted graph ids (``None`` = one graph of ``num_nodes`` nodes).
            num_nodes: ``N``; with ``batch=None`` it fixes ``L`` (nodes without
                edges count, so the bias matches the attention's ``[.., N, N]``).
        """
        if rel_pos.numel() != edge_index.size(1):
            raise ValueError(f"'rel_pos' has {rel_pos.numel()} entries for {edge_index.size(1)} edges")
        bad = out_of_range(edge_index, num_nodes)
        if bad is not None:  # to_dense_adj would index with it (a negative id wraps around)
            raise ValueError(f"'edge_index' refers to node {bad} of only {num_nodes} nodes (ids 0..{num_nodes - 1})")
        k = self.max_distance
        values = self.weight[rel_pos.clamp(-k, k) + k]  # [E, H]
        max_num_nodes = num_nodes if batch is None else None  # a batch vector counts isolated nodes itself
        # [B, L (src), L (dst), H]
        dense = to_dense_adj(edge_index, batch, edge_attr=values, max_num_nodes=max_num_nodes)
        return dense.permute(0, 3, 2, 1)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(heads={self.heads}, max_distance={self.max_distance})"


def _layers(channels: int, num_layers: int, heads: int, hidden: int | None, dropout: float, norm_first: bool) -> nn.ModuleList:
    return nn.ModuleList(
        TransformerLayer(
            MultiheadAttention(channels, heads, dropout),
            FeedForward(channels, hidden, dropout),
            channels,
            dropout=dropout,
            norm_first=norm_first,
        )
        for _ in range(num_layers)
    )


class SequenceEncoder(nn.Module):
    r"""A Transformer encoder (Vaswani et al., 2017) as a graph transformer on the complete graph.

    .. math::
        H^{(0)} = \mathrm{Enc}(X) + \mathrm{PE}(\mathrm{position}), \qquad
        H^{(l)} = \mathrm{TransformerLayer}_l(H^{(l-1)}, G)

    with an optional final LayerNorm (use it with ``norm_first=True``, as
    ``torch.nn.TransformerEncoder(norm=LayerNorm)``). On the complete graph it
    equals ``torch.nn.TransformerEncoder`` with the same weights; any other
    graph restricts attention to its edges (so the causal DAG gives a decoder).

    Args:
        channels: width ``C``.
        num_layers: number of layers.
        heads: attention heads.
        hidden_channels: FFN width (default ``2C``).
        dropout: dropout in attention, after it and in the FFN.
        norm_first: pre-norm layers.
        final_norm: a LayerNorm after the last layer.
        input_encoder: maps ``x`` to ``[N, C]`` (e.g. ``nn.Embedding`` for token
            ids, ``nn.Linear`` for features); ``None`` = ``x`` is already ``[N, C]``.
        pos_encoder: maps ``position [N]`` to ``[N, C]``; ``None`` = no positions.
        rel_bias: :class:`RelativePositionBias` (needs ``rel_pos``); ``None`` = none.

    Shapes:
        - input: ``x [N, *]``, ``edge_index [2, E]`` or ``None`` (complete),
          ``batch [N]``, ``position [N]``, ``rel_pos [E]``
        - output: ``[N, C]``
    """

    #: the paper this model implements (listed by ``graphformers ls models``).
    citation: str = "Vaswani et al., Attention Is All You Need, NeurIPS 2017"

    def __init__(
        self,
        channels: int,
        num_layers: int,
        *,
        heads: int = 1,
        hidden_channels: int | None = None,
        dropout: float = 0.0,
        norm_first: bool = False,
        final_norm: bool = False,
        input_encoder: nn.Module | None = None,
        pos_encoder: nn.Module | None = None,
        rel_bias: RelativePositionBias | None = None,
    ) -> None:
        super().__init__()
        self.channels = channels
        self.num_layers = num_layers
        self.heads = heads
        self.norm_first = norm_first
        self.input_encoder = input_encoder
        self.pos_encoder = pos_encoder
        self.rel_bias = rel_bias
        self.layers = _layers(channels, num_layers, heads, hidden_channels, dropout, norm_first)
        self.norm = nn.LayerNorm(channels) if final_norm else None

    def reset_parameters(self) -> None:
        for mod in (self.input_encoder, self.pos_encoder, self.rel_bias, self.norm, *self.layers):
            if mod is not None:
                reset_module(mod)

    def forward(
        self,
        x: Tensor,
        edge_index: OptTensor = None,
        batch: OptTensor = None,
        *,
        position: OptTensor = None,
        rel_pos: OptTensor = None,
    ) -> Tensor:
        h = x if self.input_encoder is None else self.input_encoder(x)
        if self.pos_encoder is not None:
            if position is None:
                raise ValueError(f"{type(self).__name__} has a pos_encoder and needs 'position'")
            h = h + self.pos_encoder(position)
        attn_bias = None
        if self.rel_bias is not None:
            if rel_pos is None or edge_index is None:
                raise ValueError(f"{type(self).__name__} has a rel_bias and needs 'edge_index' and 'rel_pos'")
            attn_bias = self.rel_bias(edge_index, rel_pos, batch, h.size(0))
        attn_mask = graph_attention_mask(edge_index, batch, num_nodes=h.size(0))
        for layer in self.layers:
            h = layer(h, None, batch, attn_mask=attn_mask, attn_bias=attn_bias)
        return h if self.norm is None else self.norm(h)

    @torch.no_grad()
    def load_from_torch(self, encoder: nn.TransformerEncoder) -> SequenceEncoder:
        """Copy the layers (and final norm) of a ``torch.nn.TransformerEncoder``.

        The copy computes the same function, or nothing is copied. The layers
        here use ReLU, LayerNorm ``eps=1e-5`` and biases, so an encoder built
        with ``activation="gelu"``, another ``layer_norm_eps`` or ``bias=False``
        is refused (see :meth:`TransformerLayer.load_from_torch`).

        Raises:
            ValueError: naming what differs (layer count, final norm, or a layer setting).
        """
        if len(encoder.layers) != len(self.layers) or (encoder.norm is None) != (self.norm is None):
            raise ValueError(f"cannot copy {type(encoder).__name__}: layer count or final norm differs")
        if self.norm is not None and encoder.norm is not None:
            theirs = encoder.norm
            if not isinstance(theirs, nn.LayerNorm):
                raise ValueError(
                    f"cannot copy {type(encoder).__name__}: its final norm is {type(theirs).__name__}, not LayerNorm"
                )
            if theirs.eps != self.norm.eps:
                raise ValueError(f"cannot copy {type(encoder).__name__}: final norm eps differs "
                                 f"(torch {theirs.eps}, this encoder {self.norm.eps})")
            if (theirs.bias is None) != (self.norm.bias is None):
                raise ValueError(
                    f"cannot copy {type(encoder).__name__}: final norm bias differs (torch bias="
                    f"{theirs.bias is not None}, this encoder bias={self.norm.bias is not None})"
                )
        backup = {key: value.clone() for key, value in self.state_dict().items()}
        try:
            for i, (ours, theirs) in enumerate(zip(self.layers, encoder.layers)):
                try:
                    ours.load_from_torch(theirs)
                except ValueError as err:
                    raise ValueError(f"layer {i}: {err}") from err
            if self.norm is not None and encoder.norm is not None:
                self.norm.load_state_dict(encoder.norm.state_dict())
        except BaseException:
            self.load_state_dict(backup)  # nothing copied
            raise
        return self

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.channels}, num_layers={self.num_layers}, heads={self.heads}, "
            f"norm_first={self.norm_first}, pos_encoder={self.pos_encoder}, rel_bias={self.rel_bias})"
        )


class CausalDecoder(nn.Module):
    r"""A decoder-only language model (GPT; Radford et al., 2018) as a graph model on the causal DAG.

    .. math::
        H^{(0)} = E[\mathrm{token}] + P[\mathrm{position}], \quad
        H^{(l)} = \mathrm{TransformerLayer}_l(H^{(l-1)}, \mathrm{DAG}), \quad
        \mathrm{logits} = \mathrm{LN}(H^{(L)}) W_{\mathrm{out}}

    Pre-norm layers and a final LayerNorm, as GPT-2. Attention follows the
    edges ``j -> i, j <= i`` of :class:`~graphformers.transforms.sequence.SequenceToGraph`
    ``(causal=True)``, so a token's output never depends on later tokens.
    Returns logits only (the loss belongs to the training loop).

    Args:
        num_tokens: vocabulary size ``V``.
        channels: width ``C``.
        num_layers: number of layers.
        max_positions: length limit of the learned position table.
        heads: attention heads.
        hidden_channels: FFN width (default ``2C``; GPT uses ``4C``).
        dropout: dropout rate.

    Shapes:
        - input: ``x [N]`` token ids, ``edge_index [2, E]`` (causal DAG), ``batch [N]``, ``position [N]``
        - output: ``[N, V]`` next-token logits
    """

    #: the paper this model implements (listed by ``graphformers ls models``).
    citation: str = "Radford et al., Improving Language Understanding by Generative Pre-Training, 2018"

    def __init__(
        self,
        num_tokens: int,
        channels: int,
        num_layers: int,
        *,
        max_positions: int = 1024,
        heads: int = 1,
        hidden_channels: int | None = None,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.num_tokens = num_tokens
        self.encoder = SequenceEncoder(
            channels,
            num_layers,
            heads=heads,
            hidden_channels=hidden_channels,
            dropout=dropout,
            norm_first=True,
            final_norm=True,
            input_encoder=nn.Embedding(num_tokens, channels),
            pos_encoder=LearnedPositionEncoding(max_positions, channels),
        )
        self.lm_head = nn.Linear(channels, num_tokens, bias=False)

    def reset_parameters(self) -> None:
        self.encoder.reset_parameters()
        self.lm_head.reset_parameters()

    def forward(self, x: Tensor, edge_index: Tensor, batch: OptTensor = None, *, position: Tensor) -> Tensor:
        if edge_index is None:
            raise ValueError("CausalDecoder needs the causal DAG 'edge_index' (SequenceToGraph(causal=True))")
        return self.lm_head(self.encoder(x, edge_index, batch, position=position))

    def __repr__(self) -> str:
        e = self.encoder
        return f"{type(self).__name__}({self.num_tokens}, {e.channels}, num_layers={e.num_layers}, heads={e.heads})"
