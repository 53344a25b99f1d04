"""MPNN (optionally with a virtual node): the message-passing baseline for graph transformers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Callable

import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import Data

from graphformers.blocks.virtual_node import VirtualNode
from graphformers.heads.readout import read_out
from graphformers.local.base import LocalMessagePassing
from graphformers.local.norm import batch_norm
from graphformers.typing import OptTensor
from graphformers.utils.checkpoint import checkpoint_layer
from graphformers.utils.checks import check_encoder_input, check_graph
from graphformers.utils.modules import reset_module

NormFactory = Callable[[int], nn.Module]


class MPNN(nn.Module):
    r"""A stack of local message-passing layers, optionally with a virtual node:
    the "MPNN + VN" model of Cai et al., `"On the Connection Between MPNN and
    Graph Transformer" <https://arxiv.org/abs/2301.11956>`_ (ICML 2023), which
    with :class:`~graphformers.local.GINE` layers is the GINE / GINE-VN
    baseline of the OGB graph-property leaderboards (Hu et al., NeurIPS 2020).

    ::

        h⁰ = node_encoder(data.x),  e⁰ = edge_encoder(data.edge_attr)
        for ℓ = 1..L:   u, eˡ = localˡ(hˡ⁻¹, edge_index, eˡ⁻¹)
                        hˡ = Norm(hˡ⁻¹ + Dropout(u))
                        if virtual_node and ℓ < L:  hˡ, s = VirtualNodeˡ(hˡ, batch, s)
        out = head(hᴸ, batch)

    Departures from OGB's ``gin-virtual`` (``examples/graphproppred/mol``):
    OGB applies ``BN -> ReLU -> Dropout`` to the conv output without a residual;
    here, as in GraphGPS's local branch and Cai et al., the residual is added
    before the norm and there is no activation outside the local module (GINE's
    MLP has its own ReLU). The virtual node is updated from each layer's
    output rather than its input (see :class:`VirtualNode`).

    Args:
        node_encoder: module ``data.x -> [N, C]`` (e.g. OGB's ``AtomEncoder(C)``).
        layers: local modules, all of width ``C``.
        head: module ``(x [N, C], batch [N]) -> out`` (see :mod:`graphformers.heads`).
        edge_encoder: module ``data.edge_attr -> [E, C_e]`` (e.g. ``BondEncoder(C)``)
            or ``None`` to pass ``data.edge_attr`` through.
        virtual_node: add a :class:`VirtualNode` between consecutive layers
            (none with a single layer).
        dropout: dropout on each local update and on the virtual-node states.
        norm: factory ``C -> nn.Module`` for the per-layer norms and the
            virtual-node MLP (default
            :func:`~graphformers.local.norm.batch_norm`, PyG's
            BatchNorm that tolerates one-row batches; ``None`` = no norm).
        checkpoint: recompute each layer's activations in the backward instead of
            keeping them (:func:`graphformers.utils.checkpoint.checkpoint_layer`; same
            outputs and gradients, less memory, about one more forward of compute).

    Shapes:
        ``data.x [N, *]``, ``data.edge_index [2, E]``, ``data.batch [N]`` ->
        ``[N, out]`` (node head) or ``[B, out]`` (graph head).
    """

    #: the paper this model implements (listed by ``graphformers ls models``).
    citation: str = "Gilmer et al., Neural Message Passing for Quantum Chemistry, ICML 2017; virtual node: Cai et al., On the Connection Between MPNN and Graph Transformer, ICML 2023"

    def __init__(
        self,
        node_encoder: nn.Module,
        layers: Sequence[LocalMessagePassing],
        head: nn.Module,
        *,
        edge_encoder: nn.Module | None = None,
        virtual_node: bool = False,
        dropout: float = 0.0,
        norm: NormFactory | None = batch_norm,
        checkpoint: bool = False,
    ) -> None:
        super().__init__()
        if len(layers) == 0:
            raise ValueError("MPNN needs at least one layer in 'layers'")
        widths = {layer.channels for layer in layers}
        if len(widths) != 1:
            raise ValueError(f"MPNN: all 'layers' must have the same width, got {sorted(widths)}")
        self.channels = widths.pop()
        self.dropout = dropout
        self.virtual_node = virtual_node
        make_norm = norm if norm is not None else (lambda c: nn.Identity())
        self.node_encoder = node_encoder
        self.edge_encoder = edge_encoder
        self.layers = nn.ModuleList(layers)
        self.norms = nn.ModuleList(make_norm(self.channels) for _ in layers)
        self.virtual_nodes = nn.ModuleList(
            # only the first virtual node starts from a learned state; the others get the previous one
            VirtualNode(self.channels, dropout=dropout, norm=norm, learn_initial=i == 0)
            for i in range(len(layers) - 1 if virtual_node else 0)
        )
        self.head = head
        self.checkpoint = checkpoint

    def reset_parameters(self) -> None:
        for module in (self.node_encoder, self.edge_encoder, *self.layers, *self.norms, *self.virtual_nodes, self.head):
            if module is not None:
                reset_module(module)

    def embed(self, data: Data) -> Tensor:
        """Node representations after the last layer, ``[N, C]``."""
        batch = getattr(data, "batch", None)
        edge_attr = getattr(data, "edge_attr", None)
        check_graph(data.x, data.edge_index, edge_attr=edge_attr, batch=batch, where=type(self).__name__)
        check_encoder_input(self.node_encoder, data.x, "data.x")
        x = self.node_encoder(data.x)
        if x.dim() != 2 or x.size(1) != self.channels:
            raise ValueError(
                f"{type(self).__name__}: 'node_encoder' outputs shape {list(x.shape)}, "
                f"but the layers expect [N, {self.channels}]"
            )
        if edge_attr is not None and self.edge_encoder is not None:
            check_encoder_input(self.edge_encoder, edge_attr, "data.edge_attr")
            edge_attr = self.edge_encoder(edge_attr)
        # a Batch knows its graph count; a Data with a batch vector leaves it to the virtual node
        num_graphs = getattr(data, "num_graphs", None) if batch is not None else 1
        state = None
        for i in range(len(self.layers)):
            x, edge_attr, state = checkpoint_layer(self._block, i, x, data.edge_index, edge_attr, batch, state,
                                                   num_graphs, enabled=self.checkpoint, owner=self)
        return x

    def _block(
        self, i: int, x: Tensor, edge_index: Tensor, edge_attr: OptTensor, batch: OptTensor, state: OptTensor,
        num_graphs: int | None,
    ) -> tuple[Tensor, OptTensor, OptTensor]:
        """Layer ``i``: message passing, dropout, residual, norm, then the virtual node (if any)."""
        update, edge_attr = self.layers[i](x, edge_index, edge_attr)
        x = self.norms[i](x + F.dropout(update, self.dropout, self.training))
        if i < len(self.virtual_nodes):
            x, state = self.virtual_nodes[i](x, batch, state, num_graphs)
        return x, edge_attr, state

    def forward(self, data: Data) -> Tensor:
        return read_out(self.head, self.embed(data), data)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.channels}, num_layers={len(self.layers)}, layer={self.layers[0]}, "
            f"virtual_node={self.virtual_node}, dropout={self.dropout}"
            f"{', checkpoint=True' if self.checkpoint else ''})"
        )
