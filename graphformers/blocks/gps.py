"""The GPS layer: a local MPNN and global attention side by side."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphformers.attention.base import GlobalAttention
from graphformers.blocks.feed_forward import FeedForward
from graphformers.local.base import LocalMessagePassing
from graphformers.local.norm import batch_norm
from graphformers.typing import OptTensor
from graphformers.utils.chunks import is_rowwise, needs_autograd, row_chunks, widest_row, worth_chunking
from graphformers.utils.modules import reset_module

NormFactory = Callable[[int], nn.Module]


class GPSLayer(nn.Module):
    r"""One layer of GraphGPS (Rampášek et al., "Recipe for a General, Powerful,
    Scalable Graph Transformer", NeurIPS 2022, Eq. 2 and Fig. 1).

    .. math::
        X_M &= \mathrm{Norm}\big(X + \mathrm{Dropout}(\mathrm{MPNN}(X, E, A))\big) \\
        X_T &= \mathrm{Norm}\big(X + \mathrm{Dropout}(\mathrm{GlobalAttn}(X))\big) \\
        X'  &= \mathrm{Norm}\big(X_M + X_T + \mathrm{FFN}(X_M + X_T)\big)

    Both branches read the layer input :math:`X`; each has its own dropout,
    residual and norm; their sum goes through the FFN (``2C`` wide by default)
    with a residual and a third norm. Either branch may be ``None`` (an
    MPNN-only or attention-only layer). The modules are passed in, so adding an
    attention kind needs no change here: anything following
    :class:`~graphformers.local.base.LocalMessagePassing` or
    :class:`~graphformers.attention.base.GlobalAttention` fits.

    Departures from the reference code (rampasek/GraphGPS ``gps_layer.py``):
    the GatedGCN branch gets the same outer dropout/residual/norm as every
    other local module (the reference skips the outer residual for GatedGCN,
    whose layer adds its own); LayerNorm, when chosen, is node-wise
    (``torch.nn.LayerNorm``), not PyG's graph-wise LayerNorm.

    Args:
        channels: width ``C`` of node features.
        local: local message-passing module (or ``None``).
        attn: global attention module (or ``None``).
        dropout: dropout on each branch's output (and in the default FFN).
        ffn: the feed-forward module (default :class:`FeedForward` ``(C, 2C)``).
        norm: a factory ``C -> nn.Module`` for the three norms (default
            :func:`graphformers.local.norm.batch_norm`, PyG's BatchNorm that
            also accepts a one-row batch; ``None`` = no norm).

    Shapes:
        - input: ``x [N, C]``, ``edge_index [2, E]``, ``batch [N]``,
          ``edge_attr [E, C_e]``, ``attn_mask``/``attn_bias`` ``[B, 1|H, L, L]``
        - output: ``(x [N, C], edge_attr [E, C_e] or None)`` (edge features as
          updated by the local module, e.g. GatedGCN)
    """

    def __init__(
        self,
        channels: int,
        local: LocalMessagePassing | None,
        attn: GlobalAttention | None,
        *,
        dropout: float = 0.0,
        ffn: nn.Module | None = None,
        norm: NormFactory | None = batch_norm,
    ) -> None:
        super().__init__()
        if local is None and attn is None:
            raise ValueError("GPSLayer needs at least one of 'local' and 'attn'")
        for name, mod in (("local", local), ("attn", attn)):
            width = getattr(mod, "channels", channels) if mod is not None else channels
            if width != channels:
                raise ValueError(f"GPSLayer({channels}): '{name}' module has width {width}")
        self.channels = channels
        self.local = local
        self.attn = attn
        self.dropout = dropout
        self.ffn = ffn if ffn is not None else FeedForward(channels, 2 * channels, dropout)
        make_norm = norm if norm is not None else (lambda c: nn.Identity())
        self.norm_local = make_norm(channels) if local is not None else None
        self.norm_attn = make_norm(channels) if attn is not None else None
        self.norm_out = make_norm(channels)

    def reset_parameters(self) -> None:
        for mod in (self.local, self.attn, self.ffn, self.norm_local, self.norm_attn, self.norm_out):
            if mod is not None:
                reset_module(mod)  # also a container without its own reset_parameters (e.g. nn.Sequential)

    def forward(
        self,
        x: Tensor,
        edge_index: Tensor,
        batch: OptTensor = None,
        *,
        edge_attr: OptTensor = None,
        attn_mask: OptTensor = None,
        attn_bias: OptTensor = None,
    ) -> tuple[Tensor, OptTensor]:
        if x.dim() != 2 or x.size(1) != self.channels:
            raise ValueError(f"GPSLayer({self.channels}): expected x of shape [N, {self.channels}], got {tuple(x.shape)}")
        if attn_mask is None and attn_bias is None and self._runs_in_chunks(x, edge_attr):
            return self._forward_in_chunks(x, edge_index, batch, edge_attr)
        branches = []
        if self.local is not None:
            h, edge_attr = self.local(x, edge_index, edge_attr)
            h = F.dropout(h, self.dropout, self.training)
            branches.append(self.norm_local(x + h))
        if self.attn is not None:
            h = self.attn(x, batch, attn_mask=attn_mask, attn_bias=attn_bias)
            h = F.dropout(h, self.dropout, self.training)
            branches.append(self.norm_attn(x + h))
        out = branches[0] if len(branches) == 1 else branches[0] + branches[1]
        out = self.norm_out(out + self.ffn(out))
        return out, edge_attr

    def _chunk_width(self) -> int:
        """The widest row of any temporary of the row-wise parts (``3C`` or the FFN's inner width)."""
        return widest_row(self.ffn, 3 * self.channels)

    def _runs_in_chunks(self, x: Tensor, edge_attr: OptTensor) -> bool:
        """Inference in node chunks applies: no autograd, eval mode, temporaries of
        the whole forward over 32 MiB, attention with a summary, and row-wise FFN and norms."""
        if self.training or not worth_chunking(x.size(0), self._chunk_width(), x.element_size()):
            return False
        if self.attn is not None and not self.attn.summarizes:
            return False
        parts = (self.ffn, self.norm_local, self.norm_attn, self.norm_out)
        return all(is_rowwise(m) for m in parts if m is not None) and not needs_autograd(self, x, edge_attr)

    def _forward_in_chunks(
        self, x: Tensor, edge_index: Tensor, batch: OptTensor, edge_attr: OptTensor
    ) -> tuple[Tensor, OptTensor]:
        r"""The same function as :meth:`forward` for large inputs without autograd:
        the local module runs once on all nodes; the attention makes its
        per-graph summary in a first pass over node chunks
        (:meth:`~graphformers.attention.base.GlobalAttention.summarize`); then
        attention read-out, residuals, norms and FFN run chunk by chunk into the
        output. Apart from the local module's output and the layer's output, no
        ``[N, *]`` tensor is made (see :mod:`graphformers.utils.chunks`)."""
        h_local = None
        if self.local is not None:
            h_local, edge_attr = self.local(x, edge_index, edge_attr)
        state = None
        if self.attn is not None:
            self.attn.check_input(x, batch)
            num_graphs = 1 if batch is None else int(batch[-1]) + 1
            state = self.attn.summarize(x, batch, num_graphs)
        out = torch.empty_like(x)
        for rows in row_chunks(x.size(0), self._chunk_width()):
            xr = x[rows]
            branches = []
            if h_local is not None:
                branches.append(self.norm_local(xr + h_local[rows]))
            if self.attn is not None:
                h = self.attn.query(xr, None if batch is None else batch[rows], state)
                branches.append(self.norm_attn(xr + h))
            h = branches[0] if len(branches) == 1 else branches[0] + branches[1]
            out[rows] = self.norm_out(h + self.ffn(h))
        return out, edge_attr

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.channels}, local={self.local}, attn={self.attn}, dropout={self.dropout})"
