"""Reading precomputed PE/SE attributes from a graph, with errors that say what to add."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.data import Data


def as_module_dtype(value: Tensor, module: nn.Module) -> Tensor:
    """``value`` in the floating dtype of ``module``'s parameters: transforms store PE/SE
    as float32, and a model moved to float64 (e.g. for gradcheck) or bfloat16 should not
    need its data converted attribute by attribute."""
    dtype = next((p.dtype for p in module.parameters() if p.is_floating_point()), torch.get_default_dtype())
    return value.to(dtype)


def require_attr(data: Data, name: str, transform: str, owner: str) -> Tensor:
    """Return ``data[name]`` or raise a :class:`ValueError` naming the transform to add.

    Args:
        data: a :class:`~torch_geometric.data.Data` or
            :class:`~torch_geometric.data.Batch`.
        name: the attribute, e.g. ``"lap_eigvec"``.
        transform: the transform that writes it, e.g. ``"AddLaplacianPE(k=8)"``.
        owner: the module asking, for the message.
    """
    value = data.get(name) if hasattr(data, "get") else getattr(data, name, None)
    if value is None:
        raise ValueError(
            f"{owner} needs the attribute {name!r}, which this graph/batch does not have; "
            f"compute it with graphformers.transforms.positional.{transform} as a "
            "transform or pre_transform of the dataset (or with graphformers.transforms.cache.precompute)"
        )
    if not isinstance(value, Tensor):
        raise ValueError(f"{owner}: attribute {name!r} must be a tensor, got {type(value).__name__}")
    return value


def check_positive_int(value: object, name: str) -> None:
    """Raise a :class:`ValueError` naming ``name`` unless ``value`` is an int >= 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


def check_width(value: Tensor, name: str, expected: int, argument: str, owner: str) -> None:
    """Check ``value`` is ``[N, expected]``; the message names the mismatched argument."""
    if value.dim() != 2 or value.size(1) != expected:
        raise ValueError(
            f"{owner}: attribute {name!r} has shape {tuple(value.shape)}, expected [N, {expected}] "
            f"({argument}={expected}); the transform and the encoder must use the same {argument}"
        )


def graph_index(data: Data, num_nodes: int) -> tuple[Tensor | None, int]:
    """``(batch, num_graphs)`` of a Batch, or ``(None, 1)`` for a single graph."""
    batch = data.get("batch") if hasattr(data, "get") else None
    if batch is None:
        return None, 1
    num_graphs = getattr(data, "num_graphs", None)
    if num_graphs is None:
        num_graphs = int(batch.max()) + 1 if num_nodes else 0
    return batch, int(num_graphs)


def reset_module(module: nn.Module) -> None:
    """Call ``reset_parameters()`` on ``module``, or on its children if it has none."""
    reset = getattr(module, "reset_parameters", None)
    if callable(reset):
        reset()
        return
    for child in module.children():
        reset_module(child)
