"""GraphGPS: encoders, a stack of GPS layers, and a task head."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn
from torch_geometric.data import Data

from graphformers.blocks.gps import GPSLayer
from graphformers.heads.readout import read_out
from graphformers.utils.checkpoint import checkpoint_layer
from graphformers.utils.checks import check_encoder_input, check_graph
from graphformers.utils.modules import reset_module


class GraphGPS(nn.Module):
    r"""GraphGPS (Rampášek et al., "Recipe for a General, Powerful, Scalable
    Graph Transformer", NeurIPS 2022; https://arxiv.org/abs/2205.12454).

    The model of the paper's Fig. 1, composed from modules passed in::

        data ──► encoder (node features ⊕ PE/SE encoders) ──► X⁰ [N, C]
        data.edge_attr ──► edge_encoder ──► E⁰ [E, C_e]
        for ℓ in layers:  Xˡ, Eˡ = GPSLayer(MPNN ∥ GlobalAttn)(Xˡ⁻¹, Eˡ⁻¹)
        head(Xᴸ, batch) ──► node- or graph-level prediction

    PE/SE are embedded and concatenated to the input features once, before the
    first layer (``encoder`` is typically a
    :class:`graphformers.encodings.FeatureEncoder`). The configurations of the
    paper (e.g. GINE + Transformer + LapPE/RWSE on molecules, GatedGCN +
    Performer + RWSE) are built by :func:`graphformers.models.factory.build_model`
    from the YAML files in ``graphformers/configs/gps``.

    Args:
        encoder: module ``data -> [N, C]``.
        layers: the GPS layers (all of width ``C``).
        head: module ``(x [N, C], batch [N]) -> out`` (see :mod:`graphformers.heads`).
        edge_encoder: module ``edge_attr -> [E, C_e]``, or ``None`` to pass
            ``data.edge_attr`` through unchanged.
        checkpoint: recompute each layer's activations in the backward instead of
            keeping them (:func:`graphformers.utils.checkpoint.checkpoint_layer`):
            training memory falls from all layers' activations to the layers'
            inputs plus one layer's activations, for about one more forward of
            compute. Same outputs and gradients (dropout masks are replayed); for
            full-batch training on large single graphs. Not part of the paper.

    Shapes:
        ``data.x [N, *]``, ``data.edge_index [2, E]``, ``data.batch [N]`` ->
        ``[N, out]`` (node head) or ``[B, out]`` (graph head).
    """

    #: the paper this model implements (listed by ``graphformers ls models``).
    citation: str = "Rampášek et al., Recipe for a General, Powerful, Scalable Graph Transformer, NeurIPS 2022"

    def __init__(
        self,
        encoder: nn.Module,
        layers: Sequence[GPSLayer],
        head: nn.Module,
        *,
        edge_encoder: nn.Module | None = None,
        checkpoint: bool = False,
    ) -> None:
        super().__init__()
        if len(layers) == 0:
            raise ValueError("GraphGPS needs at least one layer")
        widths = {layer.channels for layer in layers}
        if len(widths) != 1:
            raise ValueError(f"all GPS layers must have the same width, got {sorted(widths)}")
        self.channels = widths.pop()
        self.encoder = encoder
        self.edge_encoder = edge_encoder
        self.layers = nn.ModuleList(layers)
        self.head = head
        self.checkpoint = checkpoint

    def reset_parameters(self) -> None:
        for mod in (self.encoder, self.edge_encoder, *self.layers, self.head):
            if mod is not None:
                reset_module(mod)

    def embed(self, data: Data) -> Tensor:
        """Node representations after the last layer, ``[N, C]``."""
        batch = getattr(data, "batch", None)
        edge_attr = getattr(data, "edge_attr", None)
        check_graph(data.x, data.edge_index, edge_attr=edge_attr, batch=batch, where=type(self).__name__)
        x = self.encoder(data)
        if x.size(-1) != self.channels:
            raise ValueError(
                f"{type(self).__name__}: the encoder outputs width {x.size(-1)}, but the layers expect {self.channels}"
            )
        if edge_attr is not None and self.edge_encoder is not None:
            check_encoder_input(self.edge_encoder, edge_attr, "data.edge_attr")
            edge_attr = self.edge_encoder(edge_attr)
        for layer in self.layers:
            x, edge_attr = checkpoint_layer(layer, x, data.edge_index, batch, edge_attr=edge_attr,
                                            enabled=self.checkpoint)
        return x

    def forward(self, data: Data) -> Tensor:
        return read_out(self.head, self.embed(data), data)

    def __repr__(self) -> str:
        extra = ", checkpoint=True" if self.checkpoint else ""
        return f"{type(self).__name__}({self.channels}, num_layers={len(self.layers)}, layer={self.layers[0]}{extra})"

