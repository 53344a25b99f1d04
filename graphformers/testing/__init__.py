"""Reusable checks for graph layers and models (importable by users' own tests)."""

from graphformers.testing.graphs import random_graph, tiny_batch, tiny_graph
from graphformers.testing.invariance import (
    assert_batch_independent,
    assert_every_param_has_grad,
    assert_permutation_equivariant,
    assert_reset_changes_parameters,
    derangement,
    permute_graph,
)

__all__ = [
    "assert_batch_independent",
    "assert_every_param_has_grad",
    "assert_permutation_equivariant",
    "assert_reset_changes_parameters",
    "derangement",
    "permute_graph",
    "random_graph",
    "tiny_batch",
    "tiny_graph",
]
