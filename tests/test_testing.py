"""graphformers.testing: the permutation check moves every node, so order-dependent functions fail."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Data

from graphformers.testing import assert_permutation_equivariant, derangement


@pytest.mark.parametrize("n", [2, 3, 4, 5, 17])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_derangement_moves_every_node(n, seed):
    perm = derangement(n, seed=seed)
    assert sorted(perm.tolist()) == list(range(n))
    assert (perm != torch.arange(n)).all()


def test_derangement_small_and_bad_sizes():
    assert derangement(0).tolist() == [] and derangement(1).tolist() == [0]
    with pytest.raises(ValueError, match="n must be"):
        derangement(-1)


def _graph(n):
    src = torch.arange(n)
    return Data(x=torch.randn(n, 3), edge_index=torch.stack([src, (src + 1) % n]), num_nodes=n)


@pytest.mark.parametrize("n", [2, 4])
def test_order_dependent_node_function_fails(n):
    with pytest.raises(AssertionError):
        assert_permutation_equivariant(lambda g: g.x + torch.arange(g.num_nodes).unsqueeze(1), _graph(n))


@pytest.mark.parametrize("n", [2, 4])
def test_read_node_zero_readout_fails(n):
    with pytest.raises(AssertionError):
        assert_permutation_equivariant(lambda g: g.x[0], _graph(n), node_level=False)


def test_equivariant_and_invariant_functions_pass():
    g = _graph(6)
    assert_permutation_equivariant(lambda d: 2 * d.x, g)
    assert_permutation_equivariant(lambda d: d.x.sum(0), g, node_level=False)
