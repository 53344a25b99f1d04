"""Activation checkpointing of model layers that replays module state exactly.

A model of ``L`` layers on one graph of ``N`` nodes keeps, for the backward, every
activation of every layer: ``O(L * N * C)`` memory, often a dozen ``[N, C]`` tensors
per layer. With checkpointing each layer keeps only its input; its activations are
recomputed, one layer at a time, during the backward (about one more forward of
compute). Built on :func:`torch.utils.checkpoint.checkpoint` (non-reentrant), which
replays the random number generator state, so dropout draws the same masks in the
recomputation and gradients equal those of the plain forward.

What plain :func:`torch.utils.checkpoint.checkpoint` gets wrong for these models is
module *state* kept in buffers: a BatchNorm in training mode updates its running
statistics on every call, so the recomputation would update them a second time with
the same batch (momentum applied twice, ``num_batches_tracked`` counted twice); a
Performer feature map counts its training calls and redraws its random features
every ``redraw_interval`` calls, so the recomputation would count the call again and
could even run with other features than the forward did (wrong gradients).
:func:`buffer_contexts` makes the recomputation start from the buffers the forward
started from, and puts back afterwards the buffers the forward left.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Callable

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

_Snapshot = list[tuple[nn.Module, str, Tensor]]


def _snapshot(module: nn.Module) -> _Snapshot:
    return [(mod, name, buf.detach().clone())
            for mod in module.modules() for name, buf in mod._buffers.items() if buf is not None]


def _restore(snapshot: _Snapshot) -> None:
    # new tensors, not writes into the current ones: the recomputed graph may have saved a
    # buffer (e.g. the Performer projection), which an in-place write would invalidate
    # (clones: a second backward with retain_graph recomputes again from the same record)
    for mod, name, value in snapshot:
        mod._buffers[name] = value.clone()


def buffer_contexts(module: nn.Module) -> tuple[contextlib.AbstractContextManager, contextlib.AbstractContextManager]:
    """The ``(forward, recomputation)`` context managers for the ``context_fn`` of
    :func:`torch.utils.checkpoint.checkpoint`: the first records the buffers of
    ``module`` (and its submodules) as the forward finds them; the second sets them to
    that record for the recomputation and, on exit (also by an exception, e.g. the
    early stop of the recomputation), back to what they were when it started."""
    state: dict[str, _Snapshot] = {}

    @contextlib.contextmanager
    def forward() -> Iterator[None]:
        state["before"] = _snapshot(module)
        yield

    @contextlib.contextmanager
    def recomputation() -> Iterator[None]:
        after = _snapshot(module)
        _restore(state["before"])
        try:
            yield
        finally:
            _restore(after)

    return forward(), recomputation()


def checkpoint_layer(
    layer: Callable[..., Any], *args: Any, enabled: bool = True, owner: nn.Module | None = None, **kwargs: Any
) -> Any:
    """``layer(*args, **kwargs)``, checkpointed when ``enabled`` and autograd records.

    Whenever autograd records (training, or eval with gradients), the layer's
    activations are not kept but recomputed in the backward; under
    :func:`torch.no_grad` (nothing to keep) the layer simply runs.

    Args:
        layer: the module (or function) to run.
        *args: its positional arguments.
        enabled: ``False`` runs the layer plainly.
        owner: a module holding every module the layer runs, whose buffers the
            recomputation replays (default: ``layer`` itself; see :func:`buffer_contexts`).
        **kwargs: its keyword arguments.
    """
    if not enabled or not torch.is_grad_enabled():
        return layer(*args, **kwargs)
    state = owner if owner is not None else layer
    if not isinstance(state, nn.Module):
        raise TypeError("checkpoint_layer: pass 'owner' (the module holding its submodules) when 'layer' is a function")
    context: Callable[[], tuple[Any, Any]] = lambda: buffer_contexts(state)
    return checkpoint(layer, *args, use_reentrant=False, context_fn=context, **kwargs)
