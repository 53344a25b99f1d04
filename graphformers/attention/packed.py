r"""Softmax attention over many small graphs with a hand-written backward.

For a batch of ``B`` graphs with at most ``L`` nodes, the flat projections
``qkv [N, 3C]`` (``C = H * D``) are gathered once into a padded, graph-major
buffer ``[3, B*H, L, D]`` (one ``index_select`` of ``D``-wide rows), the scores of
all graphs and heads are formed by batched matmuls over ``B*H`` blocks of
``L x L``, and the result is gathered straight back to the flat ``[N, C]``
layout (one ``index_select``):

.. math::
    S = \frac{Q K^\top}{\sqrt{D}} + M, \quad A = \mathrm{softmax}(S), \quad O = A V

with ``M`` = ``-inf`` on padded keys; the softmax runs in place on the score
buffer, with ``exp2`` on scores scaled by :math:`\log_2 e` (the same function; on
CPU ``exp2`` is several times faster than ``exp``). The backward is written out,

.. math::
    \nabla V = A^\top G, \quad \nabla S = A \odot \big(G V^\top - \mathrm{rowsum}(G \odot O)\big),
    \quad \nabla Q = \tfrac{1}{\sqrt{D}} \nabla S\, K, \quad \nabla K = \tfrac{1}{\sqrt{D}} \nabla S^\top Q,

where :math:`\mathrm{rowsum}(G \odot O) = \mathrm{rowsum}(A \odot G V^\top)` is taken
on the ``L x D`` output instead of the ``L x L`` scores (as FlashAttention does),
so that the score gradient is formed in place in one ``L x L`` buffer; ``dQ, dK,
dV`` go into one buffer gathered back to ``[N, 3C]``.

Padding slots are filled by gathering a real row of their own graph rather
than zeros (no fill pass): a padded key is masked by ``M`` (its weight is
exactly 0, so its value row never counts), and a padded query's output row is
never gathered back and gets a zero output gradient, so none of them reaches a
result. Every buffer is
graph-major (block ``b*H + h``), the order in which the flat ``[N, H, D]``
rows lie, so each copy moves contiguous ``D``-wide rows (on CPU, the permuted
head-major copies this replaces cost as much as the matmuls).

Composed from autograd ops, the same computation pads with ``to_dense_batch``,
copies ``q``, ``k``, ``v`` to contiguous blocks, stacks their gradients and
scatters the output gradient back through the padding mask
(:meth:`GlobalAttention.attend_flat <graphformers.attention.base.GlobalAttention.attend_flat>`);
``scripts/bench_gps.py`` measures the difference. Double backward is not
supported (the function is ``once_differentiable``);
:class:`~graphformers.attention.full.MultiheadAttention` uses it only where its
explicit small-graph path applies and no ``attn_mask``/``attn_bias`` is given.

Dropout on the attention weights draws its mask as ``F.dropout`` does on a
``[B, H, L, L]`` tensor, so a seeded run draws the same mask on either path.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import FunctionCtx, once_differentiable


_LOG2E = 1.4426950408889634

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


def graph_major_rows(batch: Tensor, layout: Layout, heads: int) -> tuple[Tensor, Tensor, Tensor]:
    """Row indices between the flat ``[N, 3, H, D]`` projections and the padded,
    graph-major ``[3, B, H, L, D]`` buffer, both viewed as rows of ``D`` values.

    Args:
        batch: ``[N]`` sorted graph index of every node.
        layout: ``dense_slots(batch)``.
        heads: ``H``.

    Returns:
        ``(out_rows [N*H], grad_rows [N*3*H], gather_rows [3*B*H*L])``: buffer row of
        node ``n``'s head ``h`` in one of the three parts (``(b*H + h)*L + l``; the
        output gathers these); buffer row of every ``(n, j, h)`` of ``qkv``, ``j``
        in ``(q, k, v)`` (the gradient gathers these); and the ``qkv`` row that fills
        every buffer row (in a padding slot, the first row of the slot's graph; see the module notes).
    """
    slot, counts, length = layout
    B, H, L, N = counts.numel(), heads, length, batch.numel()
    device = batch.device
    # int32 where it fits: index_select reads half the index bytes (index_copy_ needs int64)
    small = torch.int32 if max(3 * B * H * L, 3 * H * N) < 2**31 else torch.long
    head = torch.arange(H, device=device)
    part = torch.arange(3, device=device)
    # slot = b*L + l, so (b*H + h)*L + l = slot + b*(H-1)*L + h*L
    base = slot + batch * ((H - 1) * L)
    out_rows = (base.view(N, 1) + head * L).view(-1)  # [N, H]
    grad_rows = (base.to(small).view(N, 1) + (part.view(3, 1) * (B * H * L) + head * L).to(small).view(1, 3 * H))
    # padding slots repeat their own graph's first node (any row of the graph will do, and
    # a non-finite value of one graph then cannot reach another's block)
    first = (torch.cumsum(counts, 0) - counts).clamp_(max=max(N - 1, 0)).to(small)
    node = first.view(B, 1).expand(B, L).contiguous().view(-1)
    node[slot] = torch.arange(N, device=device, dtype=small)
    gather_rows = (node.view(1, B, 1, L) * (3 * H) + (part.view(3, 1) * H + head).to(small).view(3, 1, H, 1)).view(-1)
    return out_rows, grad_rows.view(-1), gather_rows


class _PackedSoftmaxAttention(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        ctx: FunctionCtx, qkv: Tensor, rows: tuple[Tensor, Tensor, Tensor], key_bias: Tensor, num_graphs: int,
        length: int, heads: int, dropout_p: float,
    ) -> Tensor:
        out_rows, grad_rows, gather_rows = rows
        N = qkv.size(0)
        B, L, H = num_graphs, length, heads
        C = qkv.size(1) // 3
        D = C // H
        buf = qkv.reshape(N * 3 * H, D).index_select(0, gather_rows).view(3, B * H, L, D)
        q, k, v = buf.unbind(0)
        # scores in base-2 units (log2(e) folded into the scale), softmax in place with exp2
        weights = torch.baddbmm(key_bias, q, k.transpose(1, 2), alpha=D**-0.5 * _LOG2E)
        weights.sub_(weights.amax(-1, keepdim=True)).exp2_()
        weights.div_(weights.sum(-1, keepdim=True))
        dropped = weights
        if dropout_p > 0.0:
            # the mask F.dropout would draw for weights laid out [B, H, L, L]
            noise = torch.empty(B * H, L, L, dtype=qkv.dtype, device=qkv.device).bernoulli_(1.0 - dropout_p)
            dropped = weights * noise.div_(1.0 - dropout_p)
        out = torch.bmm(dropped, v)  # (B*H, L, D)
        ctx.save_for_backward(buf, weights, dropped, out, out_rows, grad_rows)
        ctx.dims = (B, L, H, D, dropout_p)  # type: ignore[attr-defined]
        return out.view(B * H * L, D).index_select(0, out_rows).view(N, C)

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, grad_out: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        buf, weights, dropped, out, out_rows, grad_rows = ctx.saved_tensors  # type: ignore[attr-defined]
        B, L, H, D, dropout_p = ctx.dims  # type: ignore[attr-defined]
        N = grad_out.size(0)
        q, k, v = buf.unbind(0)
        # padded query rows must get a zero gradient: they would count in dV
        g = grad_out.new_zeros(B * H * L, D).index_copy_(0, out_rows, grad_out.reshape(N * H, D)).view(B * H, L, D)
        grads = grad_out.new_empty(3, B * H, L, D)
        torch.bmm(dropped.transpose(1, 2), g, out=grads[2])
        grad_s = torch.bmm(g, v.transpose(1, 2))
        if dropout_p > 0.0:
            # dropped = weights * noise, noise in {0, 1/(1-p)}; a weight that underflowed
            # to 0 has zero score gradient whatever its noise
            grad_s.mul_(torch.where(dropped != 0, 1.0 / (1.0 - dropout_p), 0.0))
        # softmax backward in place: rowsum(A * dA) = rowsum(dropped * G V^T) = rowsum(G * O)
        grad_s.sub_((g * out).sum(-1, keepdim=True)).mul_(weights)
        # the 1/sqrt(D) of the scores is applied inside the matmuls (beta=0: no input read)
        torch.baddbmm(grads[0], grad_s, k, beta=0.0, alpha=D**-0.5, out=grads[0])
        torch.baddbmm(grads[1], grad_s.transpose(1, 2), q, beta=0.0, alpha=D**-0.5, out=grads[1])
        grad_qkv = grads.view(3 * B * H * L, D).index_select(0, grad_rows)
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
    layout = dense_slots(batch) if layout is None else layout
    _, counts, length = layout
    B = counts.numel()
    key_bias = torch.zeros(B, length, dtype=qkv.dtype, device=qkv.device)
    key_bias.masked_fill_(~padding_mask(counts, length), float("-inf"))
    key_bias = key_bias.view(B, 1, 1, length).expand(B, heads, 1, length).reshape(B * heads, 1, length)
    rows = graph_major_rows(batch, layout, heads)
    return _PackedSoftmaxAttention.apply(qkv, rows, key_bias, B, length, heads, dropout_p)
