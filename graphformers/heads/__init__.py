"""Task heads, kept out of the models: node-level and graph-level (pooling) readouts.

Every head is called as ``head(x [N, C], batch [N] or None) -> Tensor``.
"""

from graphformers.heads.mlp import GraphHead, NodeHead

__all__ = ["GraphHead", "NodeHead"]
