r"""The Transformer layer as a graph layer: attention restricted to the graph's edges."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.utils import to_dense_adj

from graphformers.typing import OptTensor
from graphformers.utils.modules import reset_module

NormFactory = Callable[[int], nn.Module]

__all__ = ["TransformerLayer", "graph_attention_mask"]


def _graph_sizes(batch: OptTensor, num_nodes: int) -> Tensor:
    if batch is None:
        return torch.tensor([num_nodes])
    return torch.bincount(batch)


def graph_attention_mask(edge_index: OptTensor, batch: OptTensor = None, *, num_nodes: int) -> OptTensor:
    """The dense attention mask of a (batched) graph: query ``i`` may attend key ``j`` iff ``j -> i``.

    Complete graphs need no mask at all, which lets
    :func:`~torch.nn.functional.scaled_dot_product_attention` take its fused
    fast path: ``None`` is returned when ``edge_index`` is ``None`` (the
    complete graph, implicit) or has exactly ``sum_b n_b^2`` edges. The second
    test is exact for edge sets without duplicate edges and without edges
    between graphs, which holds for every PyG batch of coalesced graphs and for
    the constructors in :mod:`graphformers.transforms.sequence` /
    :mod:`graphformers.transforms.image`.

    Args:
        edge_index: ``[2, E]`` or ``None``.
        batch: ``[N]`` sorted graph ids (``None`` = one graph).
        num_nodes: ``N``.

    Returns:
        ``[B, 1, L, L]`` bool or ``None``.
    """
    if edge_index is None:
        return None
    sizes = _graph_sizes(batch, num_nodes)
    if edge_index.size(1) == int((sizes * sizes).sum()):
        return None
    adj = to_dense_adj(edge_index, batch, max_num_nodes=int(sizes.max()), batch_size=sizes.numel())  # [B, src, dst]
    return adj.transpose(1, 2).unsqueeze(1) > 0  # [B, 1, L (query), L (key)]


class TransformerLayer(nn.Module):
    r"""A Transformer encoder layer on a graph (Vaswani et al., 2017, "Attention Is All You Need").

    Post-norm (``norm_first=False``, the paper):

    .. math::
        X' &= \mathrm{Norm}_1\big(X + \mathrm{Dropout}(\mathrm{Attn}_G(X))\big) \\
        X'' &= \mathrm{Norm}_2\big(X' + \mathrm{FFN}(X')\big)

    pre-norm (``norm_first=True``):
    :math:`X' = X + \mathrm{Dropout}(\mathrm{Attn}_G(\mathrm{Norm}_1 X))`,
    :math:`X'' = X' + \mathrm{FFN}(\mathrm{Norm}_2 X')`.

    :math:`\mathrm{Attn}_G` lets node ``i`` attend node ``j`` only along an edge
    ``j -> i`` of the graph. On the complete graph of a sequence this is
    ``torch.nn.TransformerEncoderLayer(batch_first=True)``, and on the causal
    DAG the same layer with a causal mask (given the same weights, see
    :meth:`load_from_torch`). The GraphGPS attention-only layer differs by
    using BatchNorm and no ``norm_first``; both share the attention and FFN
    modules, which are passed in.

    Args:
        attn: global attention (:class:`~graphformers.attention.base.GlobalAttention`,
            flat call ``attn(x, batch, attn_mask=, attn_bias=)``).
        ffn: feed-forward module ``[N, C] -> [N, C]`` carrying its own dropout
            (e.g. :class:`~graphformers.blocks.feed_forward.FeedForward`).
        channels: width ``C``.
        dropout: dropout on the attention output (before the residual sum).
        norm_first: pre-norm instead of post-norm.
        norm: factory ``C -> nn.Module`` for both norms (default :class:`torch.nn.LayerNorm`).

    Shapes:
        - input: ``x [N, C]``, ``edge_index [2, E]`` or ``None`` (complete graph),
          ``batch [N]``, ``attn_mask``/``attn_bias`` ``[B, 1|H, L, L]``
        - output: ``[N, C]``
    """

    def __init__(
        self,
        attn: nn.Module,
        ffn: nn.Module,
        channels: int,
        *,
        dropout: float = 0.0,
        norm_first: bool = False,
        norm: NormFactory = nn.LayerNorm,
    ) -> None:
        super().__init__()
        width = getattr(attn, "channels", channels)
        if width != channels:
            raise ValueError(f"TransformerLayer({channels}): 'attn' has width {width}")
        self.attn = attn
        self.ffn = ffn
        self.channels = channels
        self.dropout = dropout
        self.norm_first = norm_first
        self.norm1 = norm(channels)
        self.norm2 = norm(channels)

    def reset_parameters(self) -> None:
        for mod in (self.attn, self.ffn, self.norm1, self.norm2):
            reset_module(mod)  # also containers without reset_parameters of their own

    def forward(
        self,
        x: Tensor,
        edge_index: OptTensor = None,
        batch: OptTensor = None,
        *,
        attn_mask: OptTensor = None,
        attn_bias: OptTensor = None,
    ) -> Tensor:
        """Apply the layer; pass either ``edge_index`` or a precomputed ``attn_mask``.

        Models with several layers compute :func:`graph_attention_mask` once
        and pass ``attn_mask`` to every layer.
        """
        if x.dim() != 2 or x.size(1) != self.channels:
            raise ValueError(f"{type(self).__name__}: expected x of shape [N, {self.channels}], got {tuple(x.shape)}")
        if edge_index is not None:
            if attn_mask is not None:
                raise ValueError(f"{type(self).__name__}: pass either 'edge_index' or 'attn_mask', not both")
            attn_mask = graph_attention_mask(edge_index, batch, num_nodes=x.size(0))
        if self.norm_first:
            x = x + self._attend(self.norm1(x), batch, attn_mask, attn_bias)
            return x + self.ffn(self.norm2(x))
        x = self.norm1(x + self._attend(x, batch, attn_mask, attn_bias))
        return self.norm2(x + self.ffn(x))

    def _attend(self, x: Tensor, batch: OptTensor, attn_mask: OptTensor, attn_bias: OptTensor) -> Tensor:
        out = self.attn(x, batch, attn_mask=attn_mask, attn_bias=attn_bias)
        return F.dropout(out, self.dropout, self.training)

    @torch.no_grad()
    def load_from_torch(self, layer: nn.TransformerEncoderLayer) -> TransformerLayer:
        """Copy a ``torch.nn.TransformerEncoderLayer`` (needs ``attn.load_from_torch`` and
        an FFN with ``lin1``/``act``/``lin2`` like :class:`~graphformers.blocks.feed_forward.FeedForward`).

        The copy computes the same function as ``layer``, or nothing is copied: a
        different ``norm_first``, activation (e.g. ``activation="gelu"`` into a
        ReLU FFN; build the FFN with ``act=nn.GELU`` instead), ``layer_norm_eps``
        or ``bias`` setting raises.

        Raises:
            ValueError: naming the setting that differs.
        """

        def activation_name(act: object) -> str:
            if act is F.relu or isinstance(act, nn.ReLU):
                return "relu"
            if act is F.gelu or (isinstance(act, nn.GELU) and act.approximate == "none"):
                return "gelu"
            if isinstance(act, nn.Module):
                return repr(act)
            return f"{getattr(act, '__module__', '')}.{getattr(act, '__qualname__', repr(act))}"

        def refuse(setting: str, theirs: object, ours: object) -> ValueError:
            return ValueError(
                f"cannot copy {type(layer).__name__} into {type(self).__name__}: {setting} differs "
                f"(torch layer {theirs}, this layer {ours})"
            )

        if layer.norm_first != self.norm_first:
            raise refuse("norm_first", layer.norm_first, self.norm_first)
        if not hasattr(self.ffn, "act"):
            raise ValueError(
                f"cannot copy {type(layer).__name__}: the FFN has no 'act' to compare with the torch activation"
            )
        theirs_act, ours_act = activation_name(layer.activation), activation_name(self.ffn.act)
        if theirs_act != ours_act:
            raise refuse("activation", theirs_act, ours_act)
        for name in ("norm1", "norm2"):
            ours, theirs = getattr(self, name), getattr(layer, name)
            if not isinstance(ours, nn.LayerNorm):
                raise ValueError(f"cannot copy {type(layer).__name__}: {name} is {type(ours).__name__}, not LayerNorm")
            if ours.eps != theirs.eps:
                raise refuse(f"layer_norm_eps ({name}.eps)", theirs.eps, ours.eps)
        theirs_bias = layer.self_attn.in_proj_bias is not None
        ours_bias = [m.bias is not None for m, _ in self._torch_pairs(layer)]
        if isinstance(getattr(self.attn, "bias", None), bool):  # MultiheadAttention(bias=...)
            ours_bias.append(self.attn.bias)
        if any(b != theirs_bias for b in ours_bias):
            ours_text = "bias=True" if all(ours_bias) else "bias=False" if not any(ours_bias) else "mixed biases"
            raise refuse("bias", f"bias={theirs_bias}", ours_text)
        self.attn.load_from_torch(layer.self_attn)
        for ours, theirs in self._torch_pairs(layer):
            ours.load_state_dict(theirs.state_dict())
        return self

    @torch.no_grad()
    def copy_to_torch(self, layer: nn.TransformerEncoderLayer) -> nn.TransformerEncoderLayer:
        """The reverse of :meth:`load_from_torch`: write this layer's weights into ``layer``."""
        if layer.norm_first != self.norm_first:
            raise ValueError(f"norm_first differs: torch layer {layer.norm_first}, this layer {self.norm_first}")
        layer.self_attn.in_proj_weight.copy_(self.attn.in_proj.weight)
        layer.self_attn.in_proj_bias.copy_(self.attn.in_proj.bias)
        layer.self_attn.out_proj.load_state_dict(self.attn.out_proj.state_dict())
        for ours, theirs in self._torch_pairs(layer):
            theirs.load_state_dict(ours.state_dict())
        return layer

    def _torch_pairs(self, layer: nn.TransformerEncoderLayer) -> list[tuple[nn.Module, nn.Module]]:
        return [(self.ffn.lin1, layer.linear1), (self.ffn.lin2, layer.linear2),
                (self.norm1, layer.norm1), (self.norm2, layer.norm2)]

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.channels}, attn={self.attn}, ffn={self.ffn}, "
            f"dropout={self.dropout}, norm_first={self.norm_first})"
        )
