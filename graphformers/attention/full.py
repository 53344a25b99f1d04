"""Exact softmax multi-head attention built on ``scaled_dot_product_attention``."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphformers.attention import native
from graphformers.attention.base import GlobalAttention
from graphformers.attention.packed import (
    Layout,
    batch_cache,
    dense_slots,
    packed_softmax_attention,
    shared_packed_layout,
)
from graphformers.typing import OptTensor


class MultiheadAttention(GlobalAttention):
    r"""Multi-head softmax attention within each graph (Vaswani et al., 2017).

    .. math::
        \mathrm{Attn}(X) = \big\Vert_{h=1}^{H} \mathrm{softmax}\!\Big(
        \frac{Q_h K_h^\top}{\sqrt{D}} + B_h\Big) V_h \; W_O,
        \qquad [Q, K, V] = X W_{\mathrm{in}} + b_{\mathrm{in}}

    where keys range over the nodes of the query's own graph (and, with
    ``attn_mask``, only over allowed keys) and ``B`` is the optional ``attn_bias``.

    The parameters are laid out as in :class:`torch.nn.MultiheadAttention`
    (``in_proj`` holds ``in_proj_weight``/``in_proj_bias``, ``out_proj`` the
    output projection), so weights copy across one to one.

    Unlike :class:`torch.nn.MultiheadAttention` (which, in eval mode, takes a
    "fast path" that materialises the ``L x L`` score matrix for padded
    batches), this module always calls
    :func:`torch.nn.functional.scaled_dot_product_attention`, whose fused CPU and
    GPU kernels keep memory linear in ``L`` when no mask is needed (a single
    graph, or graphs of equal size). With padding a ``[B, 1, 1, L]`` key mask is
    broadcast, never an ``[B, H, L, L]`` tensor.

    For many small graphs (the score tensor ``[B, H, L, L]`` under
    :attr:`max_score_elements` entries) the scores are formed explicitly with
    batched matmuls, which on CPU is several times faster than the fused
    kernel's tiling overhead at ``L`` of a few dozen; memory stays bounded by
    that threshold. In the flat form (``x [N, C]``, ``batch``) without
    ``attn_mask``/``attn_bias`` that path runs as one autograd function,
    :func:`~graphformers.attention.packed.packed_softmax_attention`, which pads
    (within up to three size buckets), attends and un-pads with a hand-written
    backward (same values; set :attr:`packed` to ``False`` where double backward
    is needed); there the bound applies to the bucketed score buffer
    ``H * sum_k B_k L_k^2``, so a batch of 512 molecules still takes it. For
    float32 on the CPU, where a C compiler is found, the flat form of such batches
    runs in a compiled kernel instead
    (:func:`~graphformers.attention.native.native_softmax_attention`: no padding
    at all, the bound applies to ``H * sum_b n_b^2``); :attr:`native` ``= False``
    or ``GRAPHFORMERS_NATIVE=0`` keeps the packed path.

    A query with no allowed key (possible only with ``attn_mask``, e.g. a node
    without in-edges under edge-restricted attention) outputs zeros before
    ``out_proj``.

    Args:
        channels: width ``C``.
        heads: number of heads ``H`` (head width ``D = C / H``).
        dropout: dropout on attention weights, training only.
        bias: learn additive biases in the projections.

    Shapes:
        - flat: ``x [N, C]``, ``batch [N]`` -> ``[N, C]``
        - dense: ``x [B, L, C]``, ``mask [B, L]`` -> ``[B, L, C]``
    """

    supports_attn_bias = True
    #: dense batches with at most this many nodes per graph ``L`` and at most
    #: :attr:`max_score_elements` scores ``B*H*L*L`` (packed path: ``H * sum_k B_k L_k^2``
    #: over the size buckets) use explicit batched matmuls (measured faster on CPU than
    #: the fused kernels for many small graphs, e.g. molecules); others use the fused
    #: SDPA kernels.
    max_explicit_length: int = 64
    max_score_elements: int = 2**22
    #: whether the flat form may use the fused pad/attend/un-pad function
    #: (:mod:`graphformers.attention.packed`) or the compiled kernel; set ``False``
    #: for double backward.
    packed: bool = True
    #: whether batches of small graphs (float32, CPU) may use the compiled kernel
    #: (:mod:`graphformers.attention.native`; the packed path where it is unavailable)
    native: bool = True

    def __init__(self, channels: int, heads: int = 1, dropout: float = 0.0, bias: bool = True) -> None:
        super().__init__(channels, heads, dropout)
        self.bias = bias
        self.in_proj = nn.Linear(channels, 3 * channels, bias=bias)
        self.out_proj = nn.Linear(channels, channels, bias=bias)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # The initialisation of torch.nn.MultiheadAttention.
        nn.init.xavier_uniform_(self.in_proj.weight)
        self.out_proj.reset_parameters()
        if self.bias:
            nn.init.zeros_(self.in_proj.bias)
            nn.init.zeros_(self.out_proj.bias)

    def attend_flat(
        self,
        qkv: Tensor,
        batch: Tensor,
        layout: Layout,
        *,
        attn_mask: OptTensor = None,
        attn_bias: OptTensor = None,
    ) -> Tensor:
        """Batches of small graphs without ``attn_mask``/``attn_bias`` take the compiled
        kernel (:func:`~graphformers.attention.native.native_softmax_attention`, float32 on
        the CPU where :func:`~graphformers.attention.native.supports` says so) or else
        :func:`~graphformers.attention.packed.packed_softmax_attention`, which pads and
        un-pads inside one autograd function (same values, fewer copies); everything else
        :meth:`GlobalAttention.attend_flat`. A batch mixing graphs
        of at most :attr:`max_explicit_length` nodes with larger ones is split in
        two: the small graphs packed, the large ones padded among themselves only."""
        _, counts, length = layout
        if not self.packed or attn_mask is not None or attn_bias is not None or length == 0:
            return super().attend_flat(qkv, batch, layout, attn_mask=attn_mask, attn_bias=attn_bias)
        dropout_p = self.dropout if self.training else 0.0
        if length <= self.max_explicit_length:
            if self.native and native.supports(qkv):
                # one attention weight per pair of nodes of a graph, no padding
                if self.heads * int((counts * counts).sum()) <= self.max_score_elements:
                    return native.native_softmax_attention(qkv, counts, self.heads, dropout_p)
                return super().attend_flat(qkv, batch, layout)
            # the score buffers of the packed path, graphs padded within size buckets
            packed = shared_packed_layout(batch, self.heads, self.head_channels, qkv.dtype, layout=layout)
            if packed.score_elements <= self.max_score_elements:
                return packed_softmax_attention(qkv, batch, self.heads, dropout_p, packed=packed)
            return super().attend_flat(qkv, batch, layout)
        # mixed sizes: the graphs up to max_explicit_length nodes go through the packed
        # path, the larger ones are padded among themselves only (one large molecule
        # would otherwise pad every graph of its batch to its size)
        small_graph = counts <= self.max_explicit_length
        if not bool(small_graph.any()):
            return super().attend_flat(qkv, batch, layout)
        # the split is computed once for the layers of one forward (the same sub-batch
        # tensors then find the small graphs' packed layout in the cache too)
        parts = batch_cache.get("split", batch, (self.max_explicit_length,), lambda: _split(batch, small_graph))
        out = qkv.new_zeros(qkv.size(0), self.channels)
        for nodes, sub_batch, sub_layout in parts:
            out = out.index_copy(0, nodes, self.attend_flat(qkv[nodes], sub_batch, sub_layout))
        return out

    def attend(
        self, qkv: Tensor, mask: OptTensor = None, *, attn_mask: OptTensor = None, attn_bias: OptTensor = None
    ) -> Tensor:
        B, L, _ = qkv.shape
        H, D, C = self.heads, self.head_channels, self.channels
        # (B, L, 3C) -> (3, B, H, L, D)
        q, k, v = qkv.view(B, L, 3, H, D).permute(2, 0, 3, 1, 4)
        allowed = None if mask is None else mask.view(B, 1, 1, L)
        if attn_mask is not None:
            if attn_mask.dtype != torch.bool:
                raise ValueError(f"attn_mask must be bool (True = may attend), got {attn_mask.dtype}")
            allowed = attn_mask if allowed is None else allowed & attn_mask
        empty_rows = None
        if attn_mask is not None:
            # queries with no allowed key: let them attend anything, zero them afterwards
            empty_rows = ~allowed.any(dim=-1, keepdim=True)  # (B, 1|H, L, 1)
            if bool(empty_rows.any()):
                allowed = allowed | empty_rows
            else:
                empty_rows = None
        sdpa_mask: OptTensor = allowed
        if attn_bias is not None:
            sdpa_mask = attn_bias if allowed is None else attn_bias.masked_fill(~allowed, float("-inf"))
        dropout_p = self.dropout if self.training else 0.0
        if L <= self.max_explicit_length and B * H * L * L <= self.max_score_elements:
            out = _small_attention(q, k, v, sdpa_mask, dropout_p)
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=sdpa_mask, dropout_p=dropout_p)  # (B, H, L, D)
        if empty_rows is not None:
            out = out.masked_fill(empty_rows, 0.0)
        return out.transpose(1, 2).reshape(B, L, C)

    def load_from_torch(self, mha: nn.MultiheadAttention) -> "MultiheadAttention":
        """Copy the weights of a :class:`torch.nn.MultiheadAttention` (batch-first or not).

        Raises:
            ValueError: ``mha`` computes a function this module cannot (other width or
                heads, separate key/value widths, biases present in one and not the
                other, ``add_bias_kv`` or ``add_zero_attn``), naming the setting.
        """
        problems = []
        if mha.embed_dim != self.channels or mha.num_heads != self.heads or not mha._qkv_same_embed_dim:
            problems.append("shapes differ")
        if (mha.in_proj_bias is not None) != self.bias:
            problems.append(f"torch bias={mha.in_proj_bias is not None}, ours bias={self.bias}")
        if mha.bias_k is not None or mha.bias_v is not None:
            problems.append("add_bias_kv=True is not supported")
        if mha.add_zero_attn:
            problems.append("add_zero_attn=True is not supported")
        if problems:
            raise ValueError(f"cannot copy {mha} into {self}: {'; '.join(problems)}")
        with torch.no_grad():
            self.in_proj.weight.copy_(mha.in_proj_weight)
            self.out_proj.weight.copy_(mha.out_proj.weight)
            if self.bias:
                self.in_proj.bias.copy_(mha.in_proj_bias)
                self.out_proj.bias.copy_(mha.out_proj.bias)
        return self

    def extra_repr_args(self) -> str:
        return f"{self.channels}, heads={self.heads}, dropout={self.dropout}"


def _split(batch: Tensor, small_graph: Tensor) -> tuple[tuple[Tensor, Tensor, Layout], ...]:
    """``(nodes, sub_batch, dense_slots(sub_batch))`` of the small graphs, then of the others
    (``small_graph [B]`` bool); ``sub_batch`` numbers each part's graphs from 0."""
    parts = []
    for kept in (small_graph, ~small_graph):
        nodes = kept[batch].nonzero().squeeze(1)
        sub_batch = (torch.cumsum(kept, 0) - 1)[batch[nodes]]  # the kept graphs renumbered
        parts.append((nodes, sub_batch, dense_slots(sub_batch)))
    return tuple(parts)


def _small_attention(q: Tensor, k: Tensor, v: Tensor, mask: OptTensor, dropout_p: float) -> Tensor:
    """Softmax attention with explicit scores (same semantics as SDPA's ``attn_mask``:
    bool = may attend, float = added bias).

    ``[B, H, L, D]`` inputs are folded to ``[B*H, L, D]`` and the scores formed by
    one ``baddbmm`` (scale, matmul and mask/bias in a single kernel)."""
    B, H, L, D = q.shape
    if mask is None:
        bias = q.new_zeros(())
    elif mask.dtype == torch.bool:
        bias = torch.zeros(mask.shape, dtype=q.dtype, device=q.device).masked_fill_(~mask, float("-inf"))
    else:
        bias = mask
    if bias.dim() == 4:  # a key-only mask ([B, 1, 1, L]) keeps its one query row: baddbmm broadcasts it
        bias = bias.expand(B, H, bias.size(-2), L).reshape(B * H, bias.size(-2), L)
    scores = torch.baddbmm(bias, q.reshape(B * H, L, D), k.reshape(B * H, L, D).transpose(1, 2), alpha=D**-0.5)
    weights = torch.softmax(scores, dim=-1)
    if dropout_p > 0.0:
        weights = F.dropout(weights, dropout_p)
    return torch.bmm(weights, v.reshape(B * H, L, D)).view(B, H, L, D)
