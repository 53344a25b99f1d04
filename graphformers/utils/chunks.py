r"""Inference in row chunks: large graphs without large temporaries.

On a graph of a million nodes every ``[N, C]`` temporary of a layer is hundreds
of MiB. glibc's ``malloc`` hands blocks above 32 MiB to the kernel as fresh
mappings and unmaps them on ``free``, so each such temporary is page-faulted
in again on every forward: measured by ``scripts/bench_gps.py``, that costs
more than the arithmetic. When no gradient is needed, layers whose parts act
on each node (row) independently can run those parts on chunks of rows whose
temporaries stay below that size and are reused.

:func:`is_rowwise` says whether a module, in its current mode, acts on rows
independently; :func:`row_chunks` cuts ``N`` rows into such chunks;
:func:`widest_row` gives the width to cut by;
:func:`worth_chunking` says whether the whole forward's temporaries would be large
enough to need it; :func:`needs_autograd` says whether a call must keep its
autograd graph.
"""

from __future__ import annotations

from typing import Iterator

import torch
from torch import Tensor, nn
from torch_geometric.nn import BatchNorm

#: values in one chunk's widest temporary (``2**20``: 4 MiB in float32, well below
#: glibc's largest mmap threshold, so the buffer is reused rather than re-faulted)
INFERENCE_CHUNK_ELEMENTS = 2**20

#: below this many bytes the widest temporary of a whole forward comes from glibc's heap
#: and is reused (32 MiB, its largest mmap threshold): chunking pays only above it (a GPS
#: layer's eval forward on batches of molecule-size graphs: chunks 15% slower at 13k
#: nodes, even at 51k, 2.8x faster at 205k; docs/results.md)
WHOLE_FORWARD_MAX_BYTES = 32 * 2**20

#: modules that act on every row independently in any mode (the activations are
#: elementwise; ``LayerNorm`` normalises over the trailing feature dimension)
_ROWWISE_LEAVES: tuple[type[nn.Module], ...] = (
    nn.Identity, nn.Linear, nn.LayerNorm, nn.ReLU, nn.GELU, nn.ELU, nn.SiLU, nn.LeakyReLU, nn.PReLU,
    nn.Tanh, nn.Sigmoid, nn.Softplus, nn.Mish,
)


def is_rowwise(module: nn.Module) -> bool:
    """Whether ``module`` (in its current train/eval mode) maps ``[N, C]`` rows
    independently, so that running it on chunks of rows gives the same result.

    ``True`` for the layers listed in ``_ROWWISE_LEAVES``, for dropout and
    batch norm in eval mode (batch norm only with running statistics), and for
    containers (``nn.Sequential`` and the library's ``FeedForward``) whose
    children all are. Unknown modules are ``False``: the caller then runs them
    on all rows at once.
    """
    from graphformers.blocks.feed_forward import FeedForward

    if isinstance(module, _ROWWISE_LEAVES):
        return True
    if isinstance(module, nn.Dropout):
        return not module.training or module.p == 0.0
    if isinstance(module, BatchNorm):
        return not module.training and is_rowwise(module.module)
    if isinstance(module, nn.BatchNorm1d):
        return not module.training and module.running_mean is not None
    if isinstance(module, (nn.Sequential, FeedForward)):
        return all(is_rowwise(child) for child in module.children())
    return False


def row_chunks(num_rows: int, width: int, elements: int | None = None) -> Iterator[slice]:
    """Slices of at most ``elements // width`` rows covering ``range(num_rows)``.

    Args:
        num_rows: ``N``.
        width: the widest row of any temporary made per chunk.
        elements: values per chunk (default :data:`INFERENCE_CHUNK_ELEMENTS`).
    """
    step = max(1, (INFERENCE_CHUNK_ELEMENTS if elements is None else elements) // max(1, width))
    for start in range(0, num_rows, step):
        yield slice(start, min(start + step, num_rows))


def widest_row(module: nn.Module, width: int) -> int:
    """The widest row a chunk of ``width``-wide rows has inside ``module``: ``width``
    or the largest ``out_features`` of its ``nn.Linear`` layers."""
    return max([width, *(m.out_features for m in module.modules() if isinstance(m, nn.Linear))])


def worth_chunking(rows: int, width: int, element_size: int = 4) -> bool:
    """Whether a ``[rows, width]`` temporary exceeds :data:`WHOLE_FORWARD_MAX_BYTES`,
    so that a forward over all rows at once would map fresh memory every call."""
    return rows * width * element_size > WHOLE_FORWARD_MAX_BYTES


def needs_autograd(module: nn.Module, *inputs: Tensor | None) -> bool:
    """Whether calling ``module`` on ``inputs`` records an autograd graph."""
    if not torch.is_grad_enabled():
        return False
    if any(t is not None and t.requires_grad for t in inputs):
        return True
    return any(p.requires_grad for p in module.parameters())
