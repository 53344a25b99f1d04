"""Input validation with errors that name the offending argument."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from graphformers.typing import OptTensor


def out_of_range(index: Tensor, bound: int) -> int | None:
    """An entry of the integer tensor ``index`` outside ``0..bound-1`` (the largest if any is
    too large, else the most negative), or ``None`` when all are inside (or there are none)."""
    if index.numel() == 0:
        return None
    lo, hi = int(index.min()), int(index.max())
    if hi >= bound:
        return hi
    return lo if lo < 0 else None


def check_graph(
    x: Tensor,
    edge_index: Tensor,
    *,
    edge_attr: OptTensor = None,
    batch: OptTensor = None,
    where: str = "input",
) -> None:
    """Raise ``ValueError`` for malformed graph input.

    Checks: ``edge_index`` is ``[2, E]`` integer with ids in ``[0, N)``;
    ``edge_attr`` has ``E`` rows; ``batch`` has ``N`` entries and is sorted;
    floating features are finite (no NaN/inf).

    Args:
        x: node features ``[N, *]`` (float or integer categories).
        edge_index: ``[2, E]``.
        edge_attr: ``[E, *]`` or ``None``.
        batch: ``[N]`` or ``None``.
        where: a name for the error messages (e.g. the model's class name).
    """
    n = x.size(0)
    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise ValueError(f"{where}: 'edge_index' must have shape [2, E], got {tuple(edge_index.shape)}")
    if edge_index.dtype not in (torch.long, torch.int32, torch.int64):
        raise ValueError(f"{where}: 'edge_index' must be an integer tensor, got {edge_index.dtype}")
    bad = out_of_range(edge_index, n)
    if bad is not None:
        raise ValueError(
            f"{where}: 'edge_index' refers to node {bad}, but 'x' has {n} nodes (valid ids are 0..{n - 1})"
        )
    if edge_attr is not None and edge_attr.size(0) != edge_index.size(1):
        raise ValueError(
            f"{where}: 'edge_attr' has {edge_attr.size(0)} rows but 'edge_index' has {edge_index.size(1)} edges"
        )
    if batch is not None:
        if batch.numel() != n:
            raise ValueError(f"{where}: 'batch' has {batch.numel()} entries but 'x' has {n} nodes")
        if n > 1 and bool((batch[1:] < batch[:-1]).any()):
            raise ValueError(f"{where}: 'batch' must be sorted (as torch_geometric's Batch makes it)")
    for name, t in (("x", x), ("edge_attr", edge_attr)):
        if t is not None and t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise ValueError(f"{where}: '{name}' contains NaN or infinite values")


def _embedding_tables(module: nn.Module) -> nn.ModuleList | None:
    """OGB's ``AtomEncoder``/``BondEncoder`` embed column ``i`` of integer features with
    table ``i``: their tables, else ``None``."""
    for name in ("atom_embedding_list", "bond_embedding_list"):
        tables = getattr(module, name, None)
        if isinstance(tables, nn.ModuleList):
            return tables
    return None


def expected_input_width(module: nn.Module) -> int | None:
    """The trailing width of the features ``module`` reads, where it can be told: an
    ``nn.Linear``'s ``in_features``, a module's integer ``in_channels``, or OGB's
    ``AtomEncoder``/``BondEncoder`` (one integer column per embedding table); else ``None``."""
    if isinstance(module, nn.Linear):
        return module.in_features
    tables = _embedding_tables(module)
    if tables is not None:
        return len(tables)
    width = getattr(module, "in_channels", None)
    return width if isinstance(width, int) else None


def check_encoder_input(module: nn.Module, features: Tensor, what: str) -> None:
    """Raise ``ValueError`` naming ``what`` (e.g. ``"data.x"``) when ``features`` do not
    have the width ``module`` reads (:func:`expected_input_width`; lazy modules are not
    checked), or, for an embedding-table encoder such as OGB's ``AtomEncoder``, have
    more columns than it has tables or are not integer; a 1-D tensor counts as width 1."""
    width = expected_input_width(module)
    if width is None or width <= 0:  # unknown, or lazy (nn.LazyLinear: 0, PyG Linear(-1, ...): -1)
        return
    got = features.size(-1) if features.dim() > 1 else 1
    if _embedding_tables(module) is not None:  # one embedding per column: fewer columns are allowed
        if got > width:
            raise ValueError(f"{what} has {got} feature columns, but the encoder {type(module).__name__} "
                             f"has only {width} embedding tables (shape {list(features.shape)})")
        if features.is_floating_point():
            raise ValueError(f"{what} must hold integer category ids for {type(module).__name__}, got {features.dtype}")
    elif got != width:
        raise ValueError(f"{what} has {got} feature columns, but the encoder {type(module).__name__} "
                         f"reads {width} (shape {list(features.shape)})")
