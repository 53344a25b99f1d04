"""Local message passing: the MPNN slot of hybrid blocks.

Every module here is called as ``x_update, edge_attr = local(x, edge_index, edge_attr)``
(see :mod:`graphformers.local.base`).
"""

from graphformers.local.base import LocalMessagePassing, PyGConv
from graphformers.local.gated_gcn import GatedGCN
from graphformers.local.gine import GIN, GINE
from graphformers.local.grid_conv import RelationalGridConv
from graphformers.local.norm import batch_norm

classes = ["GIN", "GINE", "GatedGCN", "LocalMessagePassing", "PyGConv", "RelationalGridConv"]
__all__ = [*classes, "batch_norm"]
