r"""Softmax attention over many small graphs with a hand-written backward.

For a batch of ``B`` graphs, the flat projections ``qkv [N, 3C]`` (``C = H * D``)
are gathered once into padded, graph-major blocks (one ``index_select`` of
``D``-wide rows). Graphs are grouped into up to three size buckets
(:func:`size_buckets`): bucket ``k`` pads its ``B_k`` graphs to its largest size
``L_k``, so a batch of molecules of 15 to 35 atoms does not pad every molecule
to 35. Within a bucket the scores of all graphs and heads are formed by batched
matmuls over ``B_k * H`` blocks of ``L_k x L_k``; the result is gathered
straight back to the flat ``[N, C]`` layout (one ``index_select``):

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
result. Every buffer is graph-major (block ``b*H + h``), the order in which the
flat ``[N, H, D]`` rows lie, so each copy moves contiguous ``D``-wide rows (on
CPU, permuted head-major copies cost as much as the matmuls).

Composed from autograd ops, the same computation pads with ``to_dense_batch``,
copies ``q``, ``k``, ``v`` to contiguous blocks, stacks their gradients and
scatters the output gradient back through the padding mask
(:meth:`GlobalAttention.attend_flat <graphformers.attention.base.GlobalAttention.attend_flat>`);
``scripts/bench_gps.py`` measures the difference. Double backward is not
supported (the function is ``once_differentiable``);
:class:`~graphformers.attention.full.MultiheadAttention` uses it only where its
explicit small-graph path applies and no ``attn_mask``/``attn_bias`` is given.

Dropout on the attention weights draws its mask as ``F.dropout`` does on a
``[B_k, H, L_k, L_k]`` tensor per bucket: with one bucket, a seeded run draws the
same mask as the padded path; with several, other draws from the same distribution.
"""

from __future__ import annotations

from typing import Callable, NamedTuple, TypeVar

import numpy as np
import torch
from torch import Tensor
from torch.autograd.function import FunctionCtx, once_differentiable


_LOG2E = 1.4426950408889634
T = TypeVar("T")

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


class BatchCache:
    """Values computed from a batch vector, kept for the next request with the *same*
    tensor object, unchanged since (same ``_version``) and with the same key.

    The layers of one model forward all receive the same ``batch`` tensor, so they
    share one :func:`dense_slots` and one :func:`packed_layout` instead of each
    recomputing them (on CPU about 0.6 ms per layer for a batch of 128 molecules, in
    the context of a training step). One entry per kind; the entry holds a reference to
    the tensor, so its identity cannot pass to another tensor while it is cached. A new
    mini-batch is a new tensor and misses.
    """

    def __init__(self) -> None:
        self._entries: dict[str, tuple[Tensor, tuple, object]] = {}

    def get(self, kind: str, batch: Tensor, key: tuple, compute: Callable[[], T]) -> T:
        """The cached value of ``kind`` for ``batch`` and ``key``, or ``compute()`` (then
        cached). A tensor made under :func:`torch.inference_mode` has no version counter,
        so an in-place change could not be seen: its values are computed, never cached."""
        if batch.is_inference():
            return compute()
        entry = self._entries.get(kind)
        stamp = (batch._version, *key)
        if entry is not None and entry[0] is batch and entry[1] == stamp:
            return entry[2]  # type: ignore[return-value]
        value = compute()
        self._entries[kind] = (batch, stamp, value)
        return value

    def clear(self) -> None:
        self._entries.clear()


#: the cache :class:`~graphformers.attention.base.GlobalAttention` and
#: :func:`packed_softmax_attention` use
batch_cache = BatchCache()


def padding_mask(counts: Tensor, length: int) -> Tensor:
    """``[B, L]`` bool, ``True`` at the first ``counts[b]`` positions of graph ``b`` (real nodes)."""
    return torch.arange(length, device=counts.device) < counts.unsqueeze(1)


#: the fixed cost of one more size bucket in :func:`size_buckets`' cost model, in score
#: entries: a dozen more kernel calls and a longer index set-up, which on the 2-core CPU
#: cost about what this many entries do (about 0.1 ms)
BUCKET_OVERHEAD_SCORES: int = 32_768


class PackedLayout(NamedTuple):
    """Where every graph's rows go in the padded, graph-major buffers of
    :func:`packed_softmax_attention` (see the module notes). Graphs are grouped
    into size buckets; bucket ``k`` holds ``B_k`` graphs padded to ``L_k`` nodes,
    its block of ``B_k * H * L_k`` rows following the previous bucket's."""

    #: ``((B_k, L_k), ...)`` per bucket
    buckets: tuple[tuple[int, int], ...]
    #: per bucket, ``[B_k * H, 1, L_k]``: 0 on real keys, ``-inf`` on padding
    key_bias: tuple[Tensor, ...]
    #: ``[N * H]`` buffer row of node ``n``'s head ``h`` (in each of the three parts)
    out_rows: Tensor
    #: ``[N * 3 * H]`` buffer row of every ``(n, j, h)`` of ``qkv``, ``j`` in (q, k, v)
    grad_rows: Tensor
    #: ``[3 * R]`` the ``qkv`` row (of ``D`` values) that fills every buffer row
    gather_rows: Tensor

    @property
    def score_elements(self) -> int:
        """``H * sum_k B_k L_k^2``: the entries of one score buffer over all buckets."""
        return sum(bias.size(0) * bias.size(-1) ** 2 for bias in self.key_bias)


def size_buckets(
    counts: Tensor, heads: int, head_channels: int = 16, max_buckets: int = 3, overhead: int | None = None
) -> list[int]:
    r"""Upper graph sizes ``L_1 < ... < L_K`` (``K <= 3``) of the size buckets that minimise

    .. math::
        H \sum_k B_k L_k (L_k + 1.5 D) + \text{overhead} \cdot (K - 1),

    a cost model of the packed attention measured on CPU: per graph and head, the
    ``L x L`` score entries plus, per padded row, about ``1.5 D`` entries' worth of
    row copies; and a fixed cost per extra bucket (its kernel calls and index set-up).
    Bucket ``k`` holds the graphs with ``L_{k-1} < n \le L_k``; every bound is a
    size that occurs, the last one the largest.

    Args:
        counts: ``[B]`` nodes per graph.
        heads: ``H``.
        head_channels: ``D``.
        max_buckets: 1, 2 or 3.
        overhead: cost of one more bucket, in score entries (default
            :data:`BUCKET_OVERHEAD_SCORES`).
    """
    overhead = BUCKET_OVERHEAD_SCORES if overhead is None else overhead
    if not 1 <= max_buckets <= 3:
        raise ValueError(f"max_buckets must be 1, 2 or 3, got {max_buckets}")
    L = int(counts.max())
    B = counts.numel()
    if max_buckets == 1 or L <= 1:
        return [L]
    # numpy: a few dozen operations on vectors of L + 1 entries, where torch's per-call
    # overhead would cost more than the buckets save
    hist = np.bincount(counts.cpu().numpy(), minlength=L + 1).astype(np.float64)
    below = np.cumsum(hist)  # graphs with at most u nodes, u = 0..L
    u = np.arange(L + 1, dtype=np.float64)
    cost = heads * u * (u + 1.5 * head_channels)  # per graph padded to u nodes
    occurs = (hist > 0) & (u > 0) & (u < L)  # candidate bounds: sizes that occur, below L
    best, bounds = B * cost[L], [L]
    # two buckets [1, u1], (u1, L]
    two = np.where(occurs, below * cost + (B - below) * cost[L] + overhead, np.inf)
    i = int(np.argmin(two))
    if two[i] < best:
        best, bounds = two[i], [i, L]
    if max_buckets == 3:
        # three buckets [1, u1], (u1, u2], (u2, L]: rows u1, columns u2 > u1
        three = ((below * cost)[:, None] + (below[None, :] - below[:, None]) * cost[None, :]
                 + ((B - below) * cost[L])[None, :] + 2 * overhead)
        three = np.where(occurs[:, None] & occurs[None, :] & (u[:, None] < u[None, :]), three, np.inf)
        i = int(np.argmin(three))
        if three.flat[i] < best:
            bounds = [i // (L + 1), i % (L + 1), L]
    return bounds


def packed_layout(
    batch: Tensor, layout: Layout, heads: int, head_channels: int = 16, max_buckets: int = 3,
    dtype: torch.dtype = torch.float32,
) -> PackedLayout:
    """Bucket the graphs by size (:func:`size_buckets`) and compute the row indices
    between the flat ``[N, 3, H, D]`` projections and the buckets' padded,
    graph-major ``[3, B_k, H, L_k, D]`` blocks, both viewed as rows of ``D`` values.

    Args:
        batch: ``[N]`` sorted graph index of every node.
        layout: ``dense_slots(batch)``.
        heads: ``H``.
        head_channels: ``D``.
        max_buckets: at most this many size buckets (1 pads every graph to the largest).
        dtype: of the key bias (that of the projections).
    """
    slot, counts, length = layout
    B, H, N = counts.numel(), heads, batch.numel()
    device = batch.device
    bounds = size_buckets(counts, H, head_channels, max_buckets)
    first = torch.cumsum(counts, 0) - counts
    if len(bounds) == 1:  # every graph padded to L, in batch order: slot = b*L + l
        buckets = ((B, length),)
        node_slot, order = slot, None
        graph_start = batch * length  # first slot of every node's graph
        padded_n: Tensor | int = length
    else:
        bound = torch.tensor(bounds, device=device)
        bucket = torch.bucketize(counts, bound)  # [B]: bounds[k-1] < n <= bounds[k]
        buckets = tuple((b, l) for b, l in zip(torch.bincount(bucket, minlength=len(bounds)).tolist(), bounds) if b)
        padded = bound[bucket]  # [B] L_k of every graph's bucket
        # graphs in bucket order (stable: batch order within a bucket); first slot of every graph
        order = torch.argsort(bucket, stable=True)
        padded_sorted = padded[order]
        offset = torch.empty_like(counts)
        offset[order] = torch.cumsum(padded_sorted, 0) - padded_sorted
        graph_start = offset[batch]
        node_slot = graph_start + (slot - batch * length)  # position within the graph: slot - b*L
        padded_n = padded[batch].view(N, 1)
    S = sum(b * l for b, l in buckets)  # slots per part and head
    # int32 where it fits: index_select reads half the index bytes (index_copy_ needs int64)
    small = torch.int32 if max(3 * H * S, 3 * H * N) < 2**31 else torch.long
    # graph g's block starts at row H * (first slot of g); head h's rows follow h * L_k later
    base = node_slot + (H - 1) * graph_start
    head = torch.arange(H, device=device)
    out_rows = (base.view(N, 1) + padded_n * head).view(-1)  # [N, H]
    # [N, 3, H]: part j adds j * H * S
    part_offset = (torch.arange(3, device=device) * (H * S)).view(3, 1)
    if order is None:
        grad_rows = base.to(small).view(N, 1) + (part_offset + head * length).to(small).view(1, 3 * H)
    else:
        grad_rows = out_rows.to(small).view(N, 1, H) + part_offset.to(small).view(1, 3, 1)
    # padding slots repeat their own graph's first node (any row of the graph will do, and
    # a non-finite value of one graph then cannot reach another's block)
    first_row = first.clamp(max=max(N - 1, 0)).to(small)
    if order is None:
        node = first_row.view(B, 1).expand(B, length).contiguous().view(-1)
    else:
        node = first_row[torch.repeat_interleave(order, padded_sorted, output_size=S)]
    node[node_slot] = torch.arange(N, device=device, dtype=small)
    head_row = head.to(small).view(1, H, 1)
    blocks, key_bias, start, done = [], [], 0, 0
    sorted_counts = counts if order is None else counts[order]
    for b, l in buckets:
        blocks.append((node[start:start + b * l].view(b, 1, l) * (3 * H) + head_row).view(-1))
        real = padding_mask(sorted_counts[done:done + b], l)
        bias = torch.zeros(b, l, dtype=dtype, device=device).masked_fill_(~real, float("-inf"))
        key_bias.append(bias.view(b, 1, 1, l).expand(b, H, 1, l).reshape(b * H, 1, l))
        start += b * l
        done += b
    rows = blocks[0] if len(blocks) == 1 else torch.cat(blocks)
    gather_rows = (rows.view(1, -1) + (torch.arange(3, device=device, dtype=small) * H).view(3, 1)).view(-1)
    return PackedLayout(buckets, tuple(key_bias), out_rows, grad_rows.view(-1), gather_rows)


def dropout_keep(buffer: Tensor, p: float) -> Tensor:
    """Fill ``buffer`` in place with the multipliers of dropout with probability ``p``:
    ``1 / (1 - p)`` where kept, ``0`` where dropped (all zeros for ``p = 1``, as
    :func:`torch.nn.functional.dropout` gives), drawn as ``F.dropout`` draws its mask."""
    buffer.bernoulli_(1.0 - p)
    return buffer.div_(1.0 - p) if p < 1.0 else buffer.zero_()


class _PackedSoftmaxAttention(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        ctx: FunctionCtx, qkv: Tensor, packed: PackedLayout, heads: int, dropout_p: float
    ) -> Tensor:
        N = qkv.size(0)
        H = heads
        C = qkv.size(1) // 3
        D = C // H
        buf = qkv.reshape(N * 3 * H, D).index_select(0, packed.gather_rows).view(3, -1, D)
        out = qkv.new_empty(buf.size(1), D)
        saved, start = [], 0
        for (b, l), key_bias in zip(packed.buckets, packed.key_bias):
            rows = slice(start, start + b * H * l)
            q, k, v = buf[:, rows].view(3, b * H, l, D).unbind(0)
            # scores in base-2 units (log2(e) folded into the scale), softmax in place with exp2
            weights = torch.baddbmm(key_bias, q, k.transpose(1, 2), alpha=D**-0.5 * _LOG2E)
            weights.sub_(weights.amax(-1, keepdim=True)).exp2_()
            weights.div_(weights.sum(-1, keepdim=True))
            dropped = noise = weights
            if dropout_p > 0.0:
                # the mask F.dropout would draw for this bucket's weights laid out [B_k, H, L_k, L_k]
                noise = dropout_keep(torch.empty(b * H, l, l, dtype=qkv.dtype, device=qkv.device), dropout_p)
                dropped = weights * noise
            torch.bmm(dropped, v, out=out[rows].view(b * H, l, D))
            saved += [weights, noise]  # the backward recomputes ``dropped`` rather than keep it
            start += b * H * l
        ctx.save_for_backward(buf, out, packed.out_rows, packed.grad_rows, *saved)
        ctx.dims = (packed.buckets, H, D, dropout_p)  # type: ignore[attr-defined]
        return out.index_select(0, packed.out_rows).view(N, C)

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, grad_out: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        buf, out, out_rows, grad_rows, *saved = ctx.saved_tensors  # type: ignore[attr-defined]
        buckets, H, D, dropout_p = ctx.dims  # type: ignore[attr-defined]
        N = grad_out.size(0)
        # padded query rows must get a zero gradient: they would count in dV
        g_all = grad_out.new_zeros(out.shape).index_copy_(0, out_rows, grad_out.reshape(N * H, D))
        # rowsum(A * dA) = rowsum(dropped * G V^T) = rowsum(G * O), on L x D instead of L x L
        rowsum_all = (g_all * out).sum(-1, keepdim=True)
        grads = grad_out.new_empty(buf.shape)
        start = 0
        for i, (b, l) in enumerate(buckets):
            weights, noise = saved[2 * i], saved[2 * i + 1]
            dropped = weights * noise if dropout_p > 0.0 else weights
            rows = slice(start, start + b * H * l)
            q, k, v = buf[:, rows].view(3, b * H, l, D).unbind(0)
            dq, dk, dv = grads[:, rows].view(3, b * H, l, D).unbind(0)
            g = g_all[rows].view(b * H, l, D)
            torch.bmm(dropped.transpose(1, 2), g, out=dv)
            grad_s = torch.bmm(g, v.transpose(1, 2))
            if dropout_p > 0.0:
                grad_s.mul_(noise)  # the gradient with respect to the weights before dropout
            grad_s.sub_(rowsum_all[rows].view(b * H, l, 1)).mul_(weights)  # softmax backward in place
            # the 1/sqrt(D) of the scores is applied inside the matmuls (beta=0: no input read)
            torch.baddbmm(dq, grad_s, k, beta=0.0, alpha=D**-0.5, out=dq)
            torch.baddbmm(dk, grad_s.transpose(1, 2), q, beta=0.0, alpha=D**-0.5, out=dk)
            start += b * H * l
        grad_qkv = grads.view(-1, D).index_select(0, grad_rows)
        return grad_qkv.view(N, 3 * H * D), None, None, None


def shared_dense_slots(batch: Tensor) -> Layout:
    """:func:`dense_slots` of ``batch`` through :data:`batch_cache` (computed once for the
    layers of one forward)."""
    return batch_cache.get("slots", batch, (), lambda: dense_slots(batch))


def shared_packed_layout(
    batch: Tensor, heads: int, head_channels: int, dtype: torch.dtype, *, layout: Layout | None = None,
    max_buckets: int = 3,
) -> PackedLayout:
    """:func:`packed_layout` of ``batch`` through :data:`batch_cache` (computed once for
    the layers of one forward); ``layout`` is ``dense_slots(batch)`` if already computed."""
    layout = shared_dense_slots(batch) if layout is None else layout
    key = (heads, head_channels, max_buckets, dtype, BUCKET_OVERHEAD_SCORES, layout[2])
    return batch_cache.get(
        "packed", batch, key, lambda: packed_layout(batch, layout, heads, head_channels, max_buckets, dtype)
    )


def packed_softmax_attention(
    qkv: Tensor, batch: Tensor, heads: int, dropout_p: float = 0.0, *, layout: Layout | None = None,
    max_buckets: int = 3, packed: PackedLayout | None = None,
) -> Tensor:
    """Multi-head softmax attention within each graph of a batch.

    Args:
        qkv: ``[N, 3C]`` projected queries, keys and values (``C = H * D``).
        batch: ``[N]`` sorted graph index of every node.
        heads: ``H``.
        dropout_p: dropout probability on the attention weights (``0`` in eval).
        layout: ``dense_slots(batch)`` if already computed.
        max_buckets: graphs are padded within at most this many size buckets
            (:func:`size_buckets`; 1 pads all to the largest graph).
        packed: :func:`shared_packed_layout` of ``batch`` if already computed.

    Returns:
        ``[N, C]`` attention output before the output projection, equal to
        :func:`torch.nn.functional.scaled_dot_product_attention` per graph.
    """
    if qkv.size(0) == 0:  # no nodes: an empty output, still connected to qkv
        return qkv.narrow(1, 0, qkv.size(1) // 3) * 0.0
    if packed is None:
        D = qkv.size(1) // (3 * heads)
        packed = shared_packed_layout(batch, heads, D, qkv.dtype, layout=layout, max_buckets=max_buckets)
    return _PackedSoftmaxAttention.apply(qkv, packed, heads, dropout_p)
