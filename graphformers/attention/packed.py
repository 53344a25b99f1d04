r"""Softmax attention over many small graphs with a hand-written backward.

For a batch of ``B`` graphs with at most ``L`` nodes, the flat projections
``qkv [N, 3C]`` are copied once into a zero-padded, head-major buffer
``[3, H, B*L, D]`` (one ``index_copy_``), the scores of all graphs and heads are
formed by batched matmuls over ``H*B`` blocks of ``L x L``, and the result is
gathered straight back to the flat ``[N, C]`` layout (one ``index_select``):

.. math::
    S = \frac{Q K^\top}{\sqrt{D}} + M, \quad A = \mathrm{softmax}(S), \quad O = A V

with ``M`` = ``-inf`` on padded keys. The backward is written out,

.. math::
    \nabla V = A^\top G, \quad \nabla S = A \odot \big(G V^\top - \mathrm{rowsum}(A \odot G V^\top)\big),
    \quad \nabla Q = \tfrac{1}{\sqrt{D}} \nabla S\, K, \quad \nabla K = \tfrac{1}{\sqrt{D}} \nabla S^\top Q,

and writes ``dQ, dK, dV`` into one buffer gathered back to ``[N, 3C]``. Composed
from autograd ops, the same computation pads with ``to_dense_batch``, copies
``q``, ``k``, ``v`` to contiguous blocks, stacks their gradients and scatters
the output gradient back through the padding mask: on CPU, for molecule-size
graphs, those copies and fills cost about as much as the matmuls (measured by
``scripts/bench_gps.py``). Double backward is not supported (the function is
``once_differentiable``); :class:`~graphformers.attention.full.MultiheadAttention`
uses it only where its explicit small-graph path applies and no
``attn_mask``/``attn_bias`` is given.

Dropout on the attention weights draws its mask as ``F.dropout`` does on a
``[B, H, L, L]`` tensor, so a seeded run draws the same mask on either path.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import FunctionCtx, once_differentiable


#: ``(slot [N], counts [B], L)``, as :func:`dense_slots` returns it
Layout = tuple[Tensor, Tensor, int]


def dense_slots(batch: Tensor, num_graphs: int | None = None) -> Layout:
    """Slot of every node in a ``[B, L]`` padded layout.

    Args:
        batch: ``[N]`` graph index of every node, sorted (PyG convention).
        num_graphs: ``B`` (default ``batch.max() + 1``).

    Returns:
        ``(slot [N], counts [B], L)`` with ``slot = b * L + position within graph b``.

    Raises:
        ValueError: if ``batch`` is not a sorted 1-D index vector (nodes of one graph
            must be contiguous, as in a PyG ``Batch``).
    """
    if batch.dim() != 1:
        raise ValueError(f"'batch' must be a 1-D vector of graph indices, got shape {list(batch.shape)}")
    if batch.numel() > 1 and bool((batch[1:] < batch[:-1]).any()):
        raise ValueError("'batch' must be sorted (the nodes of each graph contiguous, as in a PyG Batch)")
    counts = torch.bincount(batch, minlength=num_graphs or 0)
    length = int(counts.max()) if counts.numel() > 0 else 0
    starts = torch.cumsum(counts, 0) - counts
    position = torch.arange(batch.numel(), device=batch.device) - starts[batch]
    return batch * length + position, counts, length


def padding_mask(counts: Tensor, length: int) -> Tensor:
    """``[B, L]`` bool, ``True`` at the first ``counts[b]`` positions of graph ``b`` (real nodes)."""
    return torch.arange(length, device=counts.device) < counts.unsqueeze(1)


class _PackedSoftmaxAttention(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        ctx: FunctionCtx, qkv: Tensor, slot: Tensor, key_bias: Tensor, num_graphs: int, length: int, heads: int,
        dropout_p: float,
    ) -> Tensor:
        N = qkv.size(0)
        B, L, H = num_graphs, length, heads
        C = qkv.size(1) // 3
        D = C // H
        buf = qkv.new_zeros(3, H, B * L, D)
        buf.index_copy_(2, slot, qkv.view(N, 3, H, D).permute(1, 2, 0, 3))
        q, k, v = buf.view(3, H * B, L, D).unbind(0)
        # softmax in place on the fresh scores (the same arithmetic as torch.softmax): every
        # buffer not allocated is one the C library need not map and fault in again
        weights = torch.baddbmm(key_bias, q, k.transpose(1, 2), alpha=D**-0.5)
        torch._softmax(weights, -1, False, out=weights)
        dropped = weights
        if dropout_p > 0.0:
            # the mask F.dropout would draw for weights laid out [B, H, L, L]
            noise = torch.empty(B, H, L, L, dtype=qkv.dtype, device=qkv.device).bernoulli_(1.0 - dropout_p)
            noise.div_(1.0 - dropout_p)
            dropped = weights * noise.transpose(0, 1).reshape(H * B, L, L)
        out = torch.bmm(dropped, v)  # (H*B, L, D)
        ctx.save_for_backward(buf, weights, dropped, slot)
        ctx.dims = (B, L, H, D, dropout_p)  # type: ignore[attr-defined]
        return out.view(H, B * L, D).permute(1, 0, 2).index_select(0, slot).view(N, C)

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, grad_out: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        buf, weights, dropped, slot = ctx.saved_tensors  # type: ignore[attr-defined]
        B, L, H, D, dropout_p = ctx.dims  # type: ignore[attr-defined]
        N = grad_out.size(0)
        q, k, v = buf.view(3, H * B, L, D).unbind(0)
        g = grad_out.new_zeros(H, B * L, D)
        g.index_copy_(1, slot, grad_out.reshape(N, H, D).transpose(0, 1))
        g = g.view(H * B, L, D)
        grads = grad_out.new_empty(3, H * B, L, D)
        torch.bmm(dropped.transpose(1, 2), g, out=grads[2])
        grad_w = torch.bmm(g, v.transpose(1, 2))
        if dropout_p > 0.0:
            # dropped = weights * noise, noise in {0, 1/(1-p)}; a weight that underflowed
            # to 0 has zero score gradient whatever its noise
            grad_w = grad_w * torch.where(dropped != 0, 1.0 / (1.0 - dropout_p), 0.0)
        grad_s = torch._softmax_backward_data(grad_w, weights, -1, weights.dtype, grad_input=grad_w)  # in place
        torch.bmm(grad_s, k, out=grads[0])
        # g was read for the last time above: its storage takes dK^T before the transposing copy
        grads[1].copy_(torch.bmm(q.transpose(1, 2), grad_s, out=g.view(H * B, D, L)).transpose(1, 2))
        grads[:2].mul_(D**-0.5)
        grad_qkv = grads.view(3, H, B * L, D).permute(2, 0, 1, 3).index_select(0, slot)
        return grad_qkv.view(N, 3 * H * D), None, None, None, None, None, None


def packed_softmax_attention(
    qkv: Tensor, batch: Tensor, heads: int, dropout_p: float = 0.0, *, layout: Layout | None = None
) -> Tensor:
    """Multi-head softmax attention within each graph of a batch.

    Args:
        qkv: ``[N, 3C]`` projected queries, keys and values (``C = H * D``).
        batch: ``[N]`` sorted graph index of every node.
        heads: ``H``.
        dropout_p: dropout probability on the attention weights (``0`` in eval).
        layout: ``dense_slots(batch)`` if already computed.

    Returns:
        ``[N, C]`` attention output before the output projection, equal to
        :func:`torch.nn.functional.scaled_dot_product_attention` per graph.
    """
    slot, counts, length = dense_slots(batch) if layout is None else layout
    B = counts.numel()
    key_bias = torch.zeros(B, length, dtype=qkv.dtype, device=qkv.device)
    key_bias.masked_fill_(~padding_mask(counts, length), float("-inf"))
    key_bias = key_bias.view(1, B, 1, length).expand(heads, B, 1, length).reshape(heads * B, 1, length)
    return _PackedSoftmaxAttention.apply(qkv, slot, key_bias, B, length, heads, dropout_p)
