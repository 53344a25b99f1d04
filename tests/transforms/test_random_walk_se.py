"""AddRandomWalkSE against hand-computed landing probabilities and matrix powers."""

from __future__ import annotations

import math

import pytest
import torch
from torch_geometric.data import Data

from graphformers.testing import assert_permutation_equivariant, random_graph
from graphformers.transforms.positional import AddRandomWalkSE


def _undirected(pairs: list[tuple[int, int]], num_nodes: int, **attrs) -> Data:
    ei = torch.tensor(pairs, dtype=torch.long).t().reshape(2, -1)
    return Data(edge_index=torch.cat([ei, ei.flip(0)], dim=1), num_nodes=num_nodes, **attrs)


def cycle(n: int) -> Data:
    return _undirected([(i, (i + 1) % n) for i in range(n)], n)


def matrix_power_reference(data: Data, walk_length: int) -> torch.Tensor:
    n = data.num_nodes
    adj = torch.zeros(n, n, dtype=torch.float64)
    w = data.edge_weight.double() if data.get("edge_weight") is not None else torch.ones(data.num_edges).double()
    adj.index_put_(tuple(data.edge_index), w, accumulate=True)
    deg = adj.sum(1, keepdim=True)
    trans = torch.where(deg > 0, adj / deg.clamp(min=1e-300), torch.zeros_like(adj))
    return torch.stack([torch.linalg.matrix_power(trans, t).diagonal() for t in range(1, walk_length + 1)], -1)


def test_four_cycle_by_hand():
    out = AddRandomWalkSE(6)(cycle(4)).rwse
    # odd steps cannot return on a bipartite graph; after an even number of steps the
    # walk is at the start or the opposite node with probability 1/2 each
    torch.testing.assert_close(out, torch.tensor([[0.0, 0.5, 0.0, 0.5, 0.0, 0.5]]).expand(4, 6))


@pytest.mark.parametrize("n", [5, 6])
def test_cycle_closed_form(n):
    t = torch.arange(1, 10, dtype=torch.float64)
    j = torch.arange(n, dtype=torch.float64)
    # P^t_ii = (1/n) sum_j cos(2 pi j / n)^t  (eigen-decomposition of the circulant P)
    expected = (torch.cos(2 * math.pi * j / n)[:, None] ** t[None, :]).mean(0)
    out = AddRandomWalkSE(9)(cycle(n)).rwse
    torch.testing.assert_close(out, expected.float().expand(n, 9), atol=1e-6, rtol=0)
    if n == 5:  # first return to the start of an odd cycle needs all 5 steps
        assert out[0, 4] == pytest.approx(2 / 32)


def test_star_by_hand():
    m = 4  # centre 0, leaves 1..4
    out = AddRandomWalkSE(5)(_undirected([(0, i) for i in range(1, m + 1)], m + 1)).rwse
    torch.testing.assert_close(out[0], torch.tensor([0.0, 1.0, 0.0, 1.0, 0.0]))
    torch.testing.assert_close(out[1:], torch.tensor([0.0, 1 / m, 0.0, 1 / m, 0.0]).expand(m, 5))


def test_isolated_nodes_get_zero():
    out = AddRandomWalkSE(4)(_undirected([(0, 1)], 3)).rwse
    torch.testing.assert_close(out, torch.tensor([[0.0, 1.0, 0.0, 1.0]] * 2 + [[0.0] * 4]))
    empty = AddRandomWalkSE(3)(Data(edge_index=torch.empty(2, 0, dtype=torch.long), num_nodes=1)).rwse
    assert torch.equal(empty, torch.zeros(1, 3))


def test_self_loop_and_directed_edges_count():
    loop = AddRandomWalkSE(3)(Data(edge_index=torch.tensor([[0], [0]]), num_nodes=1)).rwse
    assert torch.equal(loop, torch.ones(1, 3))
    directed = Data(edge_index=torch.tensor([[0, 1, 2], [1, 2, 0]]), num_nodes=3)  # 0 -> 1 -> 2 -> 0
    out = AddRandomWalkSE(6)(directed).rwse
    torch.testing.assert_close(out, torch.tensor([0.0, 0.0, 1.0, 0.0, 0.0, 1.0]).expand(3, 6))


def test_random_weighted_graph_matches_dense_matrix_power():
    g = torch.Generator().manual_seed(0)
    data = random_graph(40, 70, generator=g)
    data.edge_weight = torch.rand(data.num_edges, generator=g) + 0.1
    out = AddRandomWalkSE(8)(data).rwse
    torch.testing.assert_close(out, matrix_power_reference(data, 8).float(), atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("walk_length", [1, 6, 7])
def test_sparse_path_matches_dense(walk_length):
    data = random_graph(60, 90, generator=torch.Generator().manual_seed(2))
    sparse = AddRandomWalkSE(walk_length)
    sparse.SPARSE_THRESHOLD = 10  # force the sparse code path on this instance
    a = sparse(data).rwse
    b = AddRandomWalkSE(walk_length)(data).rwse
    torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(a, matrix_power_reference(data, walk_length).float(), atol=1e-6, rtol=1e-5)


def test_permutation_equivariant():
    data = random_graph(12, 20, generator=torch.Generator().manual_seed(5))
    assert_permutation_equivariant(lambda d: AddRandomWalkSE(5)(d).rwse, data)


def test_repr_and_bad_arguments():
    t = AddRandomWalkSE(16, attr_name="rw")
    assert repr(t) == "AddRandomWalkSE(walk_length=16, attr_name='rw')"
    assert t(cycle(4)).rw.shape == (4, 16)
    for bad in (0, -3, 1.5):
        with pytest.raises(ValueError, match="walk_length must be"):
            AddRandomWalkSE(bad)
    with pytest.raises(ValueError, match="edge_weight"):
        AddRandomWalkSE(2)(_undirected([(0, 1)], 2, edge_weight=torch.ones(3)))


def test_parity_with_pyg_add_random_walk_pe():
    from torch_geometric.transforms import AddRandomWalkPE

    data = random_graph(30, 60, generator=torch.Generator().manual_seed(9))
    ours = AddRandomWalkSE(10)(data).rwse
    theirs = AddRandomWalkPE(10, attr_name="pe")(data).pe
    torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=1e-5)


def test_edge_index_outside_the_graph_is_an_error_on_both_solvers(monkeypatch):
    """An edge to node 3 of a 3-node graph: the dense path used to fold it into another
    entry (0 -> 3 became 1 -> 0) and return values; both paths now refuse it."""
    from graphformers.transforms.positional import AddLaplacianPE

    data = Data(edge_index=torch.tensor([[0, 1, 0], [1, 0, 3]]), num_nodes=3)
    for threshold in (10**9, 0):  # dense, then sparse
        monkeypatch.setattr(AddRandomWalkSE, "SPARSE_THRESHOLD", threshold)
        monkeypatch.setattr(AddLaplacianPE, "SPARSE_THRESHOLD", threshold)
        with pytest.raises(ValueError, match="node 3, outside the graph's 3 nodes"):
            AddRandomWalkSE(2)(data.clone())
        with pytest.raises(ValueError, match="node 3"):
            AddLaplacianPE(1, is_undirected=False)(data.clone())
