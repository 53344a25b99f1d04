"""Concatenate node features with positional/structural encodings, once, before layer 1."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch_geometric.data import Data

from graphformers.encodings._attrs import reset_module
from graphformers.utils.checks import check_encoder_input

__all__ = ["FeatureEncoder"]


def _width(module: nn.Module) -> int | None:
    """The output width a module declares (``out_channels``/``out_features``/``embedding_dim``)."""
    for name in ("out_channels", "out_features", "embedding_dim"):
        value = getattr(module, name, None)
        if isinstance(value, int):
            return value
    return None


class FeatureEncoder(nn.Module):
    r"""Input encoder of GraphGPS: node features and PE/SE embeddings side by side.

    As in `"Recipe for a General, Powerful, Scalable Graph Transformer"
    <https://arxiv.org/abs/2205.12454>`_, the encodings are concatenated to the
    embedded node features once, before the first layer:

    .. math::
        \mathbf{x}^{(0)}_i = \big[\, f(\mathbf{x}_i) \,\|\, g_1(\text{data})_i
        \,\|\, \dots \,\|\, g_m(\text{data})_i \,\big].

    The model width is therefore the node encoder's width plus the widths of all
    PE/SE encoders: for a width-64 model with an 8-wide LapPE and a 16-wide RWSE,
    use a 40-wide node encoder. :attr:`out_channels` gives the sum when every
    part declares its width (``out_channels``, ``out_features`` or
    ``embedding_dim``), else ``None``.

    Args:
        node_encoder (nn.Module): maps ``data[node_in_key]`` to ``[N, F_0]``
            (e.g. ``nn.Linear``, or OGB's ``AtomEncoder`` for integer features).
        pe_encoders (Sequence[nn.Module], optional): modules mapping the whole
            graph/batch to ``[N, F_j]``, e.g. :class:`LinearLapPE`,
            :class:`SignNetLapPE`, :class:`RWSEEncoder`. (default: ``()``)
        node_in_key (str, optional): attribute fed to ``node_encoder``.
            (default: ``"x"``)

    Shapes:
        - **input:** ``data`` with ``data[node_in_key]`` ``[N, *]`` and the PE/SE attributes
        - **output:** ``[N, F_0 + F_1 + ... + F_m]``

    Raises:
        ValueError: when ``data`` lacks ``node_in_key`` or an attribute an encoder
            reads (the message names the attribute and the transform that writes it).
    """

    def __init__(
        self,
        node_encoder: nn.Module,
        pe_encoders: Sequence[nn.Module] = (),
        *,
        node_in_key: str = "x",
    ) -> None:
        super().__init__()
        self.node_encoder = node_encoder
        self.pe_encoders = nn.ModuleList(pe_encoders)
        self.node_in_key = node_in_key
        widths = [_width(m) for m in (node_encoder, *self.pe_encoders)]
        self.out_channels: int | None = None if None in widths else sum(w for w in widths if w is not None)

    def reset_parameters(self) -> None:
        """Re-initialise the node encoder and every PE/SE encoder."""
        reset_module(self.node_encoder)
        for enc in self.pe_encoders:
            reset_module(enc)

    def forward(self, data: Data) -> Tensor:
        """Return the concatenated ``[N, F]`` input features of ``data``."""
        x = data.get(self.node_in_key) if hasattr(data, "get") else getattr(data, self.node_in_key, None)
        if x is None:
            raise ValueError(
                f"FeatureEncoder: the graph/batch has no attribute {self.node_in_key!r} "
                "(node_in_key) to feed to the node encoder"
            )
        check_encoder_input(self.node_encoder, x, f"data.{self.node_in_key}")
        parts = [self.node_encoder(x)]
        parts.extend(enc(data) for enc in self.pe_encoders)
        sizes = {p.size(0) for p in parts}
        if len(sizes) != 1:
            raise ValueError(f"FeatureEncoder: parts have different node counts {[p.size(0) for p in parts]}")
        return torch.cat(parts, dim=-1)

    def __repr__(self) -> str:
        pes = ", ".join(repr(m) for m in self.pe_encoders)
        return f"{self.__class__.__name__}({self.node_encoder}, pe_encoders=[{pes}], node_in_key={self.node_in_key!r})"
