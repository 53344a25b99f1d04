"""Small deterministic graphs for tests and examples."""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.data import Batch, Data
from torch_geometric.utils import to_undirected


def random_graph(
    num_nodes: int,
    num_edges: int,
    *,
    channels: int = 8,
    edge_dim: int | None = None,
    generator: torch.Generator | None = None,
) -> Data:
    """A random undirected graph with ``x`` (and ``edge_attr`` if ``edge_dim``).

    ``num_edges`` undirected edges are drawn (self-loops removed, duplicates
    coalesced), so the result has at most ``2 * num_edges`` directed edges.
    """
    g = generator
    x = torch.randn(num_nodes, channels, generator=g)
    if num_nodes > 1 and num_edges > 0:
        ei = torch.randint(0, num_nodes, (2, num_edges), generator=g)
        ei = ei[:, ei[0] != ei[1]]
        ei = to_undirected(ei, num_nodes=num_nodes)
    else:
        ei = torch.empty(2, 0, dtype=torch.long)
    data = Data(x=x, edge_index=ei, num_nodes=num_nodes)
    if edge_dim is not None:
        # symmetric edge features: the same value on both directions
        und = torch.randn(num_nodes, num_nodes, edge_dim, generator=g)
        und = und + und.transpose(0, 1)
        data.edge_attr = und[ei[0], ei[1]]
    return data


def tiny_graph(channels: int = 8, edge_dim: int | None = None, seed: int = 0) -> Data:
    """A 6-node graph: a 4-cycle with a pendant path, written out by hand."""
    g = torch.Generator().manual_seed(seed)
    ei = torch.tensor([[0, 1, 1, 2, 2, 3, 3, 0, 3, 4, 4, 5], [1, 0, 2, 1, 3, 2, 0, 3, 4, 3, 5, 4]])
    data = Data(x=torch.randn(6, channels, generator=g), edge_index=ei, num_nodes=6)
    if edge_dim is not None:
        und = torch.randn(6, edge_dim, generator=g)
        # edge k of the undirected pair list gets feature und[k]
        data.edge_attr = und[torch.arange(12) // 2]
    return data


def tiny_batch(channels: int = 8, edge_dim: int | None = None, seed: int = 0) -> Batch:
    """Three graphs of *different* sizes (6, 3 and 11 nodes) so padding happens."""
    g = torch.Generator().manual_seed(seed)
    graphs = [
        tiny_graph(channels, edge_dim, seed),
        random_graph(3, 2, channels=channels, edge_dim=edge_dim, generator=g),
        random_graph(11, 20, channels=channels, edge_dim=edge_dim, generator=g),
    ]
    return Batch.from_data_list(graphs)


def node_permutation(num_nodes: int, seed: int = 0) -> Tensor:
    """A fixed random permutation of ``num_nodes`` nodes."""
    return torch.randperm(num_nodes, generator=torch.Generator().manual_seed(seed))
