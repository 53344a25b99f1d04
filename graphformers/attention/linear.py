"""Kernelised attention in time and memory linear in the number of nodes."""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor, nn

from graphformers.attention.base import GlobalAttention, chunk_layouts, pad_rows, unpad_rows
from graphformers.attention.kernels import EluFeatureMap, FavorPlusFeatureMap, FeatureMap
from graphformers.typing import OptTensor


class KernelAttention(GlobalAttention):
    r"""Linear attention with a feature map :math:`\phi` passed in as a module.

    .. math::
        \mathrm{out}_i = \frac{\phi(q_i)^\top \sum_{j \in G(i)} \phi(k_j) v_j^\top}
                              {\phi(q_i)^\top \sum_{j \in G(i)} \phi(k_j)}

    where :math:`G(i)` are the nodes of node ``i``'s graph. Cost
    :math:`O(N M D)` instead of :math:`O(\sum_g n_g^2 D)`.

    Padding is masked on the *key features*: padded keys contribute neither to
    the numerator nor to the normaliser, so a graph's output does not depend on
    its batch mates. (PyG's ``PerformerAttention`` zeroes only the values, so
    padded keys still add to the normaliser.)

    The sums over :math:`G(i)` are a fixed-size summary per graph and head, so
    in inference a large input can be handled in node chunks (:meth:`summarize`,
    then :meth:`query` per chunk; used by :class:`~graphformers.blocks.gps.GPSLayer`):
    no ``[N, 3C]`` projection of the whole input exists.

    Args:
        channels: width ``C``.
        heads: heads ``H``.
        feature_map: a callable ``head_channels -> FeatureMap`` (e.g. the class
            :class:`EluFeatureMap`, or ``functools.partial(FavorPlusFeatureMap, num_features=64)``).
        dropout: dropout on the attention output, training only (kernel
            attention has no explicit weights to drop).
        bias: projection biases.
    """

    def __init__(
        self,
        channels: int,
        heads: int = 1,
        feature_map: Callable[[int], FeatureMap] = EluFeatureMap,
        dropout: float = 0.0,
        bias: bool = True,
        eps: float = 1e-6,
    ) -> None:
        super().__init__(channels, heads, dropout)
        self.feature_map = feature_map(self.head_channels)
        self.eps = eps
        self.in_proj = nn.Linear(channels, 3 * channels, bias=bias)
        self.out_proj = nn.Linear(channels, channels, bias=bias)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.xavier_uniform_(self.in_proj.weight)
        self.out_proj.reset_parameters()
        if self.in_proj.bias is not None:
            nn.init.zeros_(self.in_proj.bias)
            nn.init.zeros_(self.out_proj.bias)
        self.feature_map.reset_parameters()

    def attend(
        self, qkv: Tensor, mask: OptTensor = None, *, attn_mask: OptTensor = None, attn_bias: OptTensor = None
    ) -> Tensor:
        B, L, _ = qkv.shape
        H, D = self.heads, self.head_channels
        if self.training:  # e.g. FAVOR+ redraws here, before the query and key features
            self.feature_map.step()
        # node-major strided views of the projection, (B, L, H, D) each: no copies
        q, k, v = qkv.view(B, L, 3, H, D).unbind(2)
        key_mask = None if mask is None else mask.view(B, L, 1, 1)
        phi_q = self.feature_map(q, True, key_mask)  # (B, L, H, M)
        out = self._read(phi_q, self._summary(self.feature_map(k, False, key_mask), v, key_mask))
        return nn.functional.dropout(out, self.dropout, self.training)

    @staticmethod
    def _summary(phi_k: Tensor, v: Tensor, key_mask: OptTensor) -> Tensor:
        """Per graph and head ``[sum_j phi(k_j) v_j^T | sum_j phi(k_j)]``, ``(B, H, M, D+1)``
        (numerator and normaliser then come from one matmul); ``phi_k`` ``(B, L, H, M)``,
        ``v`` ``(B, L, H, D)``; features of padded keys are zeroed here."""
        if key_mask is not None:
            phi_k = phi_k.masked_fill(~key_mask, 0.0)
        kv = torch.matmul(phi_k.permute(0, 2, 3, 1), v.transpose(1, 2))  # (B, H, M, D)
        return torch.cat([kv, phi_k.sum(dim=1).unsqueeze(-1)], dim=-1)

    def _read(self, phi_q: Tensor, kvz: Tensor) -> Tensor:
        """``phi_q (B, L, H, M)``, ``kvz (B, H, M, D+1)`` -> ``(B, L, C)``."""
        B, L, H, _ = phi_q.shape
        D = self.head_channels
        num = torch.matmul(phi_q.transpose(1, 2), kvz)  # (B, H, L, D+1)
        if num.requires_grad:  # (never under no_grad / inference_mode)
            return (num[..., :D] / (num[..., D:] + self.eps)).transpose(1, 2).reshape(B, L, H * D)
        # inference: divide and lay out node-major in one pass (out= has no autograd)
        out = phi_q.new_empty(B, L, H, D)
        torch.div(num[..., :D], num[..., D:] + self.eps, out=out.transpose(1, 2))
        return out.view(B, L, H * D)

    # ------------------------------------------------------------------ inference in node chunks

    @property
    def summarizes(self) -> bool:
        return self.feature_map.rowwise or self.feature_map.stabilised_keys

    def summarize(self, x: Tensor, batch: OptTensor, num_graphs: int) -> Tensor:
        """Per-graph summaries over node chunks. With stabilised keys (FAVOR+) the
        stabiliser is a running maximum per graph and head: when a chunk raises it
        from ``c`` to ``c'``, the sums so far are scaled by ``exp(c - c')``, so the
        result is the one the graph-wide maximum gives (up to rounding)."""
        C, H, D, M = self.channels, self.heads, self.head_channels, self.feature_map.num_features
        state = x.new_zeros(num_graphs, H, M, D + 1)
        running = x.new_full((num_graphs, H), float("-inf"))
        for rows, graphs, layout in chunk_layouts(x, batch, max(2 * C, 2 * H * M)):
            dense, mask = pad_rows(self._project(x[rows], slice(C, 3 * C)), layout)
            k, v = dense.view(*dense.shape[:2], 2, H, D).unbind(2)
            key_mask = None if mask is None else mask.view(*mask.shape, 1, 1)
            if self.feature_map.rowwise:
                phi_k = self.feature_map(k, False, key_mask)
            else:
                log_phi, source = self.feature_map.key_parts(k)
                if key_mask is not None:
                    source = source.masked_fill(~key_mask, float("-inf"))
                new = torch.maximum(running[graphs], source.amax(dim=(1, 3)))  # (b, H)
                # -inf: no key of that graph seen yet (an empty graph inside the chunk)
                scale = torch.where(torch.isneginf(new), 1.0, torch.exp(running[graphs] - new))
                state[graphs] *= scale[..., None, None]
                running[graphs] = new
                phi_k = torch.exp(log_phi - new[:, None, :, None])
            state[graphs] += self._summary(phi_k, v, key_mask)
        return state

    def query(self, x: Tensor, batch: OptTensor, state: Tensor) -> Tensor:
        H, D = self.heads, self.head_channels
        ((_, graphs, layout),) = chunk_layouts(x, batch, None)
        dense, mask = pad_rows(self._project(x, slice(0, self.channels)), layout)
        key_mask = None if mask is None else mask.view(*mask.shape, 1, 1)
        phi_q = self.feature_map(dense.view(*dense.shape[:2], H, D), True, key_mask)
        out = unpad_rows(self._read(phi_q, state[graphs]), layout)
        return self.out_proj(out)

    def _project(self, x: Tensor, part: slice) -> Tensor:
        """Rows ``part`` of ``in_proj`` (``0:C`` queries, ``C:3C`` keys and values) applied to ``x``."""
        bias = None if self.in_proj.bias is None else self.in_proj.bias[part]
        return nn.functional.linear(x, self.in_proj.weight[part], bias)

    def extra_repr_args(self) -> str:
        return f"{self.channels}, heads={self.heads}, feature_map={self.feature_map}"


class LinearAttention(KernelAttention):
    r"""Linear attention with :math:`\phi(x) = \mathrm{elu}(x)+1` (Katharopoulos et
    al., "Transformers are RNNs", ICML 2020)."""

    def __init__(self, channels: int, heads: int = 1, dropout: float = 0.0, bias: bool = True) -> None:
        super().__init__(channels, heads, EluFeatureMap, dropout, bias)

    def extra_repr_args(self) -> str:
        return f"{self.channels}, heads={self.heads}"


class PerformerAttention(KernelAttention):
    r"""Performer attention with FAVOR+ positive orthogonal random features
    (Choromanski et al., "Rethinking Attention with Performers", ICLR 2021),
    an unbiased approximation of softmax attention.

    Features are redrawn every ``redraw_interval`` training forwards and fixed in
    eval mode (call :meth:`redraw_projection` to redraw by hand).

    Args:
        channels: width ``C``.
        heads: heads ``H``.
        num_features: random features per head ``M`` (default ``ceil(D log D)``).
        redraw_interval: training forwards between redraws (``0`` = never).
        dropout: dropout on the attention output, training only.
    """

    def __init__(
        self,
        channels: int,
        heads: int = 1,
        num_features: int | None = None,
        redraw_interval: int = 1000,
        dropout: float = 0.0,
        bias: bool = True,
    ) -> None:
        super().__init__(
            channels,
            heads,
            lambda d: FavorPlusFeatureMap(d, num_features, redraw_interval),
            dropout,
            bias,
        )

    def redraw_projection(self, generator: torch.Generator | None = None) -> None:
        """Redraw the random features now."""
        self.feature_map.redraw_projection(generator)  # type: ignore[operator]

    def extra_repr_args(self) -> str:
        fm = self.feature_map
        return f"{self.channels}, heads={self.heads}, num_features={fm.num_features}"
