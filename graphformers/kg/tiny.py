"""A hand-written toy knowledge graph for tests, examples and smoke runs.

A small family/geography world: 11 entities, 4 relations, 16 train, 4 valid
and 4 test triples. Every valid/test entity and relation occurs in train.
"""

from __future__ import annotations

from graphformers.kg.triples import KGTriples

TINY_TRAIN: tuple[tuple[str, str, str], ...] = (
    ("alice", "parent_of", "bob"),
    ("alice", "parent_of", "carol"),
    ("bob", "parent_of", "dave"),
    ("carol", "parent_of", "erin"),
    ("bob", "sibling_of", "carol"),
    ("carol", "sibling_of", "bob"),
    ("dave", "sibling_of", "erin"),
    ("alice", "lives_in", "paris"),
    ("bob", "lives_in", "paris"),
    ("carol", "lives_in", "lyon"),
    ("dave", "lives_in", "lyon"),
    ("erin", "lives_in", "rome"),
    ("paris", "located_in", "france"),
    ("lyon", "located_in", "france"),
    ("rome", "located_in", "italy"),
    ("frank", "lives_in", "rome"),
)
TINY_VALID: tuple[tuple[str, str, str], ...] = (
    ("erin", "sibling_of", "dave"),
    ("frank", "parent_of", "erin"),
    ("alice", "lives_in", "lyon"),
    ("italy", "located_in", "italy"),
)
TINY_TEST: tuple[tuple[str, str, str], ...] = (
    ("carol", "parent_of", "dave"),
    ("erin", "lives_in", "lyon"),
    ("bob", "sibling_of", "erin"),
    ("paris", "located_in", "italy"),
)


def tiny_kg() -> KGTriples:
    """The toy knowledge graph as a :class:`KGTriples` (deterministic ids)."""
    return KGTriples.from_labeled({"train": TINY_TRAIN, "valid": TINY_VALID, "test": TINY_TEST}, name="tiny")
