"""The default norm of the modules in this area."""

from __future__ import annotations

from torch_geometric.nn import BatchNorm


def batch_norm(channels: int) -> BatchNorm:
    """BatchNorm that also runs on a batch of one row in training mode (it then
    normalises with the running statistics, as in eval mode).

    The default norm of :class:`~graphformers.local.GatedGCN`,
    :class:`~graphformers.blocks.virtual_node.VirtualNode`,
    :class:`~graphformers.models.mpnn.MPNN` and the Graph Transformer: a
    virtual node sees one row per *graph*, and the last mini-batch of an epoch
    may hold a single one-atom molecule, where :class:`torch.nn.BatchNorm1d`
    raises.
    """
    return BatchNorm(channels, allow_single_element=True)
