"""Small shared utilities."""

from graphformers.utils.checks import check_graph

__all__ = ["check_graph"]
