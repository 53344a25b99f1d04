"""The call signature shared by every local message-passing module.

A *local* module fills the local slot of a hybrid block (the MPNN branch of a
GPS layer). All of them are called the same way::

    x_out, edge_attr_out = local(x, edge_index, edge_attr=None)

with shapes ``x: [N, C]``, ``edge_index: [2, E]``, ``edge_attr: [E, C_e] or
None`` and outputs ``x_out: [N, C]`` (the *update* only: the caller adds the
residual, dropout and norm) and ``edge_attr_out: [E, C_e] or None`` (the edge
features passed on to the next layer: unchanged for convs that only read them,
updated for GatedGCN). Modules that need ``edge_attr`` raise a ``ValueError``
naming the argument when it is missing.

:class:`PyGConv` adapts any PyG convolution to that signature.
"""

from __future__ import annotations

import inspect

from torch import Tensor, nn

from graphformers.typing import OptTensor


class LocalMessagePassing(nn.Module):
    """Base class of local modules: ``forward(x, edge_index, edge_attr=None)``.

    Subclasses set :attr:`channels` and :attr:`uses_edge_attr` and implement
    :meth:`forward` and :meth:`reset_parameters`.
    """

    channels: int
    uses_edge_attr: bool = False

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: OptTensor = None) -> tuple[Tensor, OptTensor]:
        raise NotImplementedError

    def reset_parameters(self) -> None:
        raise NotImplementedError

    def _check_edge_attr(self, edge_index: Tensor, edge_attr: OptTensor) -> Tensor:
        if edge_attr is None:
            raise ValueError(f"{type(self).__name__} needs 'edge_attr' (edge features), got None")
        if edge_attr.size(0) != edge_index.size(1):
            raise ValueError(
                f"{type(self).__name__}: 'edge_attr' has {edge_attr.size(0)} rows but "
                f"'edge_index' has {edge_index.size(1)} edges"
            )
        return edge_attr

    def _check_width(self, name: str, tensor: Tensor, expected: int) -> None:
        """Raise a ``ValueError`` naming ``name`` if ``tensor``'s last dim is not ``expected``."""
        if tensor.dim() != 2 or tensor.size(-1) != expected:
            raise ValueError(
                f"{type(self).__name__}: '{name}' must have shape [*, {expected}], got {list(tensor.shape)}"
            )


class PyGConv(LocalMessagePassing):
    """Adapter: any PyG ``MessagePassing`` conv behind the local signature.

    Whether the conv takes edge features is read once from its ``forward``
    signature (an ``edge_attr`` parameter); edge features pass through unchanged.

    Args:
        conv: a PyG convolution mapping ``[N, C] -> [N, C]``.
        channels: its width ``C`` (inferred from ``conv.out_channels`` if omitted).
    """

    def __init__(self, conv: nn.Module, channels: int | None = None) -> None:
        super().__init__()
        self.conv = conv
        self.channels = int(channels if channels is not None else getattr(conv, "out_channels"))
        self.uses_edge_attr = "edge_attr" in inspect.signature(conv.forward).parameters

    def reset_parameters(self) -> None:
        self.conv.reset_parameters()

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: OptTensor = None) -> tuple[Tensor, OptTensor]:
        if self.uses_edge_attr:
            out = self.conv(x, edge_index, edge_attr=edge_attr)
        else:
            out = self.conv(x, edge_index)
        return out, edge_attr

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.conv})"
