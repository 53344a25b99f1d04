"""The protocol of global attention modules over batched graphs.

Every global attention module maps flat node features to flat node features::

    out = attn(x, batch, attn_mask=None, attn_bias=None)    # [N, C] -> [N, C]

Internally the nodes are laid out densely per graph, ``[B, L, C]`` with a
validity mask ``[B, L]`` (the layout of ``torch_geometric.utils.to_dense_batch``;
graphs of equal size are a view, without a copy), and
:meth:`GlobalAttention.forward_dense` does the work. No node ever attends to a
node of another graph, and padding never enters a graph's result, so a graph's
output is the same alone and batched with others.

``attn_mask`` (bool, ``True`` = may attend) and ``attn_bias`` (float, added to
the attention scores) are given in dense coordinates with shape
``[B, 1 or H, L, L]``; they are the hook for attention biases and edge
encodings in the global branch (structural biases, BigBird-style sparsity).
"""

from __future__ import annotations

from typing import Iterator

import torch
from torch import Tensor, nn

from graphformers.attention.packed import Layout, dense_slots, padding_mask, shared_dense_slots
from graphformers.typing import OptTensor
from graphformers.utils.chunks import row_chunks


def pad_rows(rows: Tensor, layout: Layout) -> tuple[Tensor, OptTensor]:
    """Flat ``[N, F]`` -> padded ``[B, L, F]`` and its ``[B, L]`` mask of real nodes.

    ``layout`` is ``dense_slots(batch)``. Graphs of equal size give a view and
    mask ``None``; otherwise padding rows are zeros."""
    slot, counts, length = layout
    B = counts.numel()
    F = rows.size(-1)
    if B * length == rows.size(0):
        return rows.view(B, length, F), None
    dense = rows.new_zeros(B * length, F).index_copy(0, slot, rows).view(B, length, F)
    return dense, padding_mask(counts, length)


def unpad_rows(dense: Tensor, layout: Layout) -> Tensor:
    """Padded ``[B, L, F]`` -> flat ``[N, F]`` (the inverse of :func:`pad_rows`)."""
    slot, counts, length = layout
    flat = dense.reshape(counts.numel() * length, dense.size(-1))
    return flat if flat.size(0) == slot.numel() else flat.index_select(0, slot)


def chunk_layouts(x: Tensor, batch: OptTensor, width: int | None) -> Iterator[tuple[slice, slice, Layout]]:
    """Cut the nodes of ``x [N, *]`` into row chunks (:func:`~graphformers.utils.chunks.row_chunks`
    for temporaries ``width`` wide; ``None`` = one chunk) and lay out each.

    Yields:
        ``(rows, graphs, layout)``: the chunk's node slice, the slice of graph
        ids it touches (a graph may span several chunks) and ``dense_slots`` of
        its nodes, numbered from the first graph it touches.

    Raises:
        ValueError: ``batch`` is not sorted (also across chunks).
    """
    num_rows = x.size(0)
    if num_rows == 0:
        return
    chunks = row_chunks(num_rows, width) if width is not None else iter([slice(0, num_rows)])
    last = 0
    for rows in chunks:
        if batch is None:
            n = rows.stop - rows.start
            yield rows, slice(0, 1), (torch.arange(n, device=x.device), torch.tensor([n], device=x.device), n)
            continue
        ids = batch[rows]
        first = int(ids[0])
        if first < last:
            raise ValueError(f"'batch' must be sorted (PyG convention); it decreases at node {rows.start}")
        last = int(ids[-1])
        yield rows, slice(first, last + 1), dense_slots(ids - first, last - first + 1)


class GlobalAttention(nn.Module):
    """Base class: subclasses own ``in_proj`` (``C -> 3C``) and ``out_proj``
    (``C -> C``) and implement :meth:`attend` and :meth:`reset_parameters`.

    Args:
        channels: node feature width ``C``.
        heads: number of heads ``H``; ``C`` must be divisible by ``H``.
        dropout: dropout on attention weights (or its kernel analogue) in training.
    """

    #: whether :meth:`forward_dense` honours ``attn_mask``/``attn_bias``.
    supports_attn_bias: bool = False

    def __init__(self, channels: int, heads: int = 1, dropout: float = 0.0) -> None:
        super().__init__()
        if channels < 1 or heads < 1:
            raise ValueError(f"channels and heads must be positive, got channels={channels}, heads={heads}")
        if channels % heads != 0:
            raise ValueError(f"channels={channels} is not divisible by heads={heads}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.channels = channels
        self.heads = heads
        self.head_channels = channels // heads
        self.dropout = dropout

    def reset_parameters(self) -> None:
        raise NotImplementedError

    def attend(
        self, qkv: Tensor, mask: OptTensor = None, *, attn_mask: OptTensor = None, attn_bias: OptTensor = None
    ) -> Tensor:
        """The attention core on projected inputs.

        Args:
            qkv: ``[B, L, 3C]`` queries, keys and values (``in_proj`` output), padded.
            mask: ``[B, L]`` bool, ``True`` for real nodes; ``None`` = no padding.
            attn_mask: ``[B, 1|H, L, L]`` bool, ``True`` where query ``i`` may attend key ``j``.
            attn_bias: ``[B, 1|H, L, L]`` float added to the scores.

        Returns:
            ``[B, L, C]`` before ``out_proj``; rows of padded nodes are unspecified.
        """
        raise NotImplementedError

    def forward_dense(
        self, x: Tensor, mask: OptTensor = None, *, attn_mask: OptTensor = None, attn_bias: OptTensor = None
    ) -> Tensor:
        """Dense form: ``x [B, L, C]``, ``mask [B, L]`` -> ``[B, L, C]`` (see :meth:`attend`)."""
        self._check_masks(attn_mask, attn_bias)
        out = self.attend(self.in_proj(x), mask, attn_mask=attn_mask, attn_bias=attn_bias)
        return self.out_proj(out)

    def forward(
        self, x: Tensor, batch: OptTensor = None, *, attn_mask: OptTensor = None, attn_bias: OptTensor = None
    ) -> Tensor:
        """Flat form: ``x [N, C]``, ``batch [N]`` (sorted graph ids, ``None`` = one graph).

        The projections run on the flat ``[N, C]`` features; only the attention
        core sees the padded ``[B, L, 3C]`` layout, so padding costs no matmuls.
        """
        self.check_input(x, batch)
        self._check_masks(attn_mask, attn_bias)
        qkv = self.in_proj(x)
        if x.size(0) == 0:  # no nodes (e.g. an empty mini-batch): nothing to attend to
            out = qkv.narrow(1, 0, self.channels) * 0.0
        elif batch is None:
            out = self.attend(qkv.unsqueeze(0), None, attn_mask=attn_mask, attn_bias=attn_bias).squeeze(0)
        else:
            out = self.attend_flat(qkv, batch, shared_dense_slots(batch), attn_mask=attn_mask, attn_bias=attn_bias)
        return self.out_proj(out)

    def attend_flat(
        self,
        qkv: Tensor,
        batch: Tensor,
        layout: Layout,
        *,
        attn_mask: OptTensor = None,
        attn_bias: OptTensor = None,
    ) -> Tensor:
        """The attention core on flat projections: ``qkv [N, 3C]`` -> ``[N, C]``.

        Pads to ``[B, L, 3C]`` by the slots of ``layout`` (``dense_slots(batch)``;
        a view when all graphs have the same size), runs :meth:`attend` and
        un-pads. Subclasses may override it with a faster path for some inputs.
        """
        dense, mask = pad_rows(qkv, layout)  # equal-size graphs: a view, mask None; kernels take fast paths
        return unpad_rows(self.attend(dense, mask, attn_mask=attn_mask, attn_bias=attn_bias), layout)

    # ------------------------------------------------------------------ inference in node chunks

    @property
    def summarizes(self) -> bool:
        """Whether this module implements :meth:`summarize` and :meth:`query`:
        inference in two passes over chunks of nodes, each graph's keys and
        values reduced to a fixed-size summary (kernel attention). A layer
        then never holds ``[N, 3C]`` projections of a huge graph."""
        return False

    def summarize(self, x: Tensor, batch: OptTensor, num_graphs: int) -> Tensor:
        """First pass: the per-graph summary of keys and values of ``x [N, C]``,
        computed over row chunks (:func:`chunk_layouts`). No autograd."""
        raise NotImplementedError(f"{type(self).__name__} has no summary (see 'summarizes')")

    def query(self, x: Tensor, batch: OptTensor, state: Tensor) -> Tensor:
        """Second pass: the output ``[n, C]`` (after ``out_proj``) of the nodes
        ``x [n, C]`` of one chunk, ``batch [n]`` their graph ids, ``state`` from
        :meth:`summarize` on all nodes."""
        raise NotImplementedError(f"{type(self).__name__} has no summary (see 'summarizes')")

    def check_input(self, x: Tensor, batch: OptTensor) -> None:
        """Raise a ``ValueError`` naming the argument unless ``x`` is ``[N, C]`` and
        ``batch`` is ``None`` or ``[N]``."""
        if x.dim() != 2 or x.size(-1) != self.channels:
            raise ValueError(f"{type(self).__name__}: expected x of shape [N, {self.channels}], got {tuple(x.shape)}")
        if batch is not None and tuple(batch.shape) != (x.size(0),):
            raise ValueError(f"{type(self).__name__}: 'batch' must have shape [{x.size(0)}] (one entry per node), "
                             f"got {list(batch.shape)}")

    def _check_masks(self, attn_mask: OptTensor, attn_bias: OptTensor) -> None:
        if (attn_mask is not None or attn_bias is not None) and not self.supports_attn_bias:
            raise ValueError(f"{type(self).__name__} does not support attn_mask/attn_bias")

    def extra_repr_args(self) -> str:
        return f"{self.channels}, heads={self.heads}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr_args()})"
