"""Calling a head from a model: one row per graph of the batch, also for empty graphs."""

from __future__ import annotations

import functools
import inspect

from torch import Tensor, nn
from torch_geometric.data import Data


@functools.lru_cache(maxsize=None)
def _takes_num_graphs(head_type: type) -> bool:
    return "num_graphs" in inspect.signature(head_type.forward).parameters


def read_out(head: nn.Module, x: Tensor, data: Data) -> Tensor:
    """``head(x, data.batch)``, passing ``num_graphs=data.num_graphs`` when ``data`` is a
    batch and the head accepts it (the library's heads do): a graph without nodes at the
    end of a batch still gets its row. Heads written for ``(x, batch)`` keep working.

    Args:
        head: a head module (see :mod:`graphformers.heads`).
        x: node representations ``[N, C]``.
        data: the graph or batch they came from.
    """
    batch = getattr(data, "batch", None)
    num_graphs = getattr(data, "num_graphs", None) if batch is not None else None
    if num_graphs is not None and _takes_num_graphs(type(head)):
        return head(x, batch, num_graphs=int(num_graphs))
    return head(x, batch)
