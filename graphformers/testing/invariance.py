"""Property checks that every graph layer and model should pass.

* permutation equivariance: relabelling nodes permutes node outputs and leaves
  graph outputs unchanged;
* batch independence: a graph's output does not depend on which other graphs
  share its batch (the check that catches padding leaking into attention);
* every parameter receives a gradient; ``reset_parameters`` re-draws parameters.

The callables passed in take a :class:`~torch_geometric.data.Data` or
:class:`~torch_geometric.data.Batch` and return a tensor, so one helper serves
layers and models alike.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch_geometric.data import Batch, Data


def permute_graph(data: Data, perm: Tensor) -> Data:
    """Relabel nodes so that new node ``i`` is old node ``perm[i]``.

    Node-level attributes (first dim == num_nodes) are re-indexed; edges are
    relabelled and their order shuffled too, with edge attributes following.
    """
    n = data.num_nodes
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(n)
    out = data.clone()
    num_edges = data.edge_index.size(1) if data.edge_index is not None else 0
    edge_perm = torch.randperm(num_edges, generator=torch.Generator().manual_seed(1))
    for key, value in data.items():
        if key == "edge_index":
            out.edge_index = inv[value][:, edge_perm]
        elif isinstance(value, Tensor) and data.is_edge_attr(key) and value.size(0) == num_edges and key != "edge_index":
            out[key] = value[edge_perm]
        elif isinstance(value, Tensor) and value.dim() > 0 and value.size(0) == n and data.is_node_attr(key):
            out[key] = value[perm]
    return out


def derangement(n: int, *, seed: int = 0) -> Tensor:
    """A random permutation of ``n`` nodes that moves every node (for ``n >= 2``).

    It is a single ``n``-cycle through a random order of the nodes, so no node
    keeps its index; ``n`` of 0 or 1 gives the identity (the only permutation).

    Args:
        n: Number of nodes.
        seed: Seed of the random node order.

    Returns:
        ``perm`` of shape ``[n]`` (long) with ``perm[i] != i`` for every ``i`` when ``n >= 2``.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    perm = torch.empty_like(order)
    perm[order] = order.roll(-1)  # order[k] -> order[k + 1]
    return perm


def assert_permutation_equivariant(
    fn: Callable[[Data], Tensor],
    data: Data,
    *,
    node_level: bool = True,
    atol: float = 1e-5,
    seed: int = 0,
) -> None:
    """Check ``fn(permute(data)) == permute(fn(data))`` (or ``== fn(data)``).

    Args:
        fn: maps a graph to node outputs ``[N, *]`` or graph outputs ``[*]``.
        data: a single graph (for a batch, permute within graphs yourself).
        node_level: node outputs permute; otherwise the output must be unchanged.
        atol: Absolute tolerance of the comparison.
        seed: Seed of the permutation, a :func:`derangement`: every node moves
            (graphs of 2 or more nodes), so even a 2-node graph or a readout of
            node 0 is really tested.
    """
    perm = derangement(data.num_nodes, seed=seed)
    out = fn(data)
    out_perm = fn(permute_graph(data, perm))
    expected = out[perm] if node_level else out
    torch.testing.assert_close(out_perm, expected, atol=atol, rtol=1e-4)


def assert_batch_independent(
    fn: Callable[[Batch], Tensor],
    graph: Data,
    others: list[Data],
    *,
    node_level: bool = True,
    atol: float = 1e-5,
) -> None:
    """Check that ``graph``'s output is the same alone and batched with ``others``.

    ``graph`` is put in the *middle* of the batch so that both an offset and
    padding after it are exercised.
    """
    alone = fn(Batch.from_data_list([graph]))
    half = len(others) // 2
    batch = Batch.from_data_list(others[:half] + [graph] + others[half:])
    out = fn(batch)
    if node_level:
        mask = batch.batch == half
        together = out[mask]
    else:
        together = out[half : half + 1]
    torch.testing.assert_close(together, alone, atol=atol, rtol=1e-4)


def assert_every_param_has_grad(module: nn.Module, loss: Tensor) -> None:
    """Backpropagate ``loss`` and check that every trainable parameter got a
    finite, non-``None`` gradient."""
    module.zero_grad(set_to_none=True)
    loss.backward()
    missing = [n for n, p in module.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"parameters without gradient: {missing}"
    bad = [n for n, p in module.named_parameters() if p.grad is not None and not torch.isfinite(p.grad).all()]
    assert not bad, f"non-finite gradients: {bad}"


def assert_reset_changes_parameters(module: nn.Module, *, skip: tuple[str, ...] = ()) -> None:
    """``reset_parameters()`` re-initialises every parameter in place.

    Every parameter is first perturbed by Gaussian noise; after the reset none
    may still hold the perturbed values (so no parameter was forgotten).
    """
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn_like(p) + 1.0)
    perturbed = {n: p.detach().clone() for n, p in module.named_parameters()}
    module.reset_parameters()  # type: ignore[operator]
    stale = [
        n
        for n, p in module.named_parameters()
        if p.numel() > 0 and not any(n.startswith(s) for s in skip) and torch.equal(p, perturbed[n])
    ]
    assert not stale, f"reset_parameters() left these unchanged: {stale}"
