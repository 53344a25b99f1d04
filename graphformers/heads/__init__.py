"""Task heads, kept out of the models: node-level and graph-level (pooling) readouts.

Every head is called as ``head(x [N, C], batch [N] or None, num_graphs=None) -> Tensor``;
graph-level heads need ``num_graphs`` (e.g. ``Batch.num_graphs``) to keep a
trailing graph without nodes; models call them through :func:`read_out`, which passes it.
"""

from graphformers.heads.mlp import GraphHead, NodeHead
from graphformers.heads.readout import read_out

__all__ = ["GraphHead", "NodeHead", "read_out"]
