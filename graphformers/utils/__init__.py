"""Small shared utilities."""

from graphformers.utils.checks import check_graph
from graphformers.utils.io import prepare_output_dir, write_atomic, write_json_atomic

__all__ = ["check_graph", "prepare_output_dir", "write_atomic", "write_json_atomic"]
