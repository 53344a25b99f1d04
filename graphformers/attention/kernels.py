r"""Feature maps :math:`\phi` for kernelised (linear-time) attention.

A feature map turns queries or keys ``[B, L, H, D]`` (node-major: the layout of
the projected ``[B, L, 3C]`` tensor, passed as a strided view) into non-negative
features ``[B, L, H, M]`` such that :math:`\phi(q)^\top \phi(k)` approximates (or
replaces) :math:`\exp(q^\top k / \sqrt{D})`. They are modules passed to
:class:`~graphformers.attention.linear.KernelAttention`, never chosen by string
inside the attention layer.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphformers.typing import OptTensor


class FeatureMap(nn.Module):
    """Base class. ``forward(x, is_query, mask)`` maps ``x [B, L, H, D]`` to
    ``[B, L, H, M]``; ``mask`` is ``[B, L, 1, 1]`` bool (``True`` = real node) or
    ``None``; features of padded keys may be anything: :class:`KernelAttention`
    zeroes them.

    For inference over chunks of nodes (:meth:`KernelAttention.summarize`) a map
    either is ``rowwise`` (every row's features depend on that row alone) or has
    ``stabilised_keys``: its key features are ``exp(log_phi - c)`` with ``c`` the
    maximum of ``stab_source`` over the graph's keys (FAVOR+), and
    :meth:`key_parts` returns both, so that a running maximum can rescale sums
    made with an earlier ``c``."""

    num_features: int
    rowwise: bool = False
    stabilised_keys: bool = False

    def forward(self, x: Tensor, is_query: bool, mask: OptTensor = None) -> Tensor:
        raise NotImplementedError

    def key_parts(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(log_phi, stab_source)`` of keys ``x [B, L, H, D]``, each ``[B, L, H, M]``
        (only for maps with ``stabilised_keys``)."""
        raise NotImplementedError(f"{type(self).__name__} has no stabilised keys")

    def reset_parameters(self) -> None:
        pass

    def step(self) -> None:
        """Called by :class:`KernelAttention` once at the start of every training
        forward, before any features are computed (e.g. to redraw random features)."""


class EluFeatureMap(FeatureMap):
    r""":math:`\phi(x) = \mathrm{elu}(x) + 1` (Katharopoulos et al., "Transformers
    are RNNs", ICML 2020). Deterministic; ``M = D``."""

    rowwise = True

    def __init__(self, head_channels: int) -> None:
        super().__init__()
        self.num_features = head_channels

    def forward(self, x: Tensor, is_query: bool, mask: OptTensor = None) -> Tensor:
        # in place on elu's fresh output: one pass less (elu's backward reads its input)
        return F.elu(x).add_(1.0)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.num_features})"


def gaussian_orthogonal_matrix(num_rows: int, num_cols: int, generator: torch.Generator | None = None) -> Tensor:
    r"""Random matrix ``[num_rows, num_cols]`` whose rows are orthogonal within
    blocks of ``num_cols`` and whose row norms follow the chi distribution of a
    Gaussian vector (Choromanski et al., 2021, Sec. 2.4: "ORF" with the norm
    rescaling that makes each row marginally :math:`\mathcal{N}(0, I)`)."""
    blocks = []
    for _ in range(math.ceil(num_rows / num_cols)):
        g = torch.randn(num_cols, num_cols, generator=generator)
        q, r = torch.linalg.qr(g)
        # sign fix so that q is Haar-distributed (uniform directions); without it
        # the estimator of exp(q.k) is biased
        q = q * torch.sign(torch.diagonal(r)).unsqueeze(0)
        blocks.append(q.T)
    mat = torch.cat(blocks, dim=0)[:num_rows]
    norms = torch.randn(num_rows, num_cols, generator=generator).norm(dim=1, keepdim=True)
    return mat * norms


class FavorPlusFeatureMap(FeatureMap):
    r"""Positive orthogonal random features for the softmax kernel (FAVOR+).

    Choromanski et al., "Rethinking Attention with Performers", ICLR 2021:

    .. math::
        \phi(x) = \frac{1}{\sqrt{M}} \exp\!\big(W x' - \tfrac{1}{2}\lVert x'\rVert^2 - c\big),
        \qquad x' = x / D^{1/4}

    so that :math:`\mathbb{E}[\phi(q)^\top \phi(k)] = e^{-c_q - c_k}\exp(q^\top k/\sqrt{D})`.
    The stabilisers ``c`` cancel in attention's normalisation: for a query it is
    its own maximum exponent; for keys the maximum over the *valid keys of the
    same graph and head* (never over the batch, which would couple graphs).

    The projection ``W [M, D]`` is a buffer: it is redrawn by
    :meth:`redraw_projection`, which :meth:`step` calls every ``redraw_interval``
    training forwards (before the forward's query and key features, so both use the
    same draw); in eval mode it is never redrawn.

    Args:
        head_channels: ``D``.
        num_features: ``M`` (default ``ceil(D log D)``, the paper's suggestion).
        redraw_interval: training forwards between redraws (``0`` = never).
    """

    def __init__(self, head_channels: int, num_features: int | None = None, redraw_interval: int = 1000) -> None:
        super().__init__()
        if num_features is None:
            num_features = max(1, int(math.ceil(head_channels * math.log(max(head_channels, 2)))))
        if num_features < 1:
            raise ValueError(f"num_features must be positive, got {num_features}")
        if redraw_interval < 0:
            raise ValueError(f"redraw_interval must be >= 0, got {redraw_interval}")
        self.head_channels = head_channels
        self.num_features = num_features
        self.redraw_interval = redraw_interval
        self.register_buffer("projection", gaussian_orthogonal_matrix(num_features, head_channels))
        self.register_buffer("calls_since_redraw", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def redraw_projection(self, generator: torch.Generator | None = None) -> None:
        """Draw a fresh random projection. The buffer gets a new tensor rather than being
        overwritten, so that the autograd graph of an earlier forward (not yet
        backpropagated, e.g. under gradient accumulation) keeps the projection it used."""
        new = gaussian_orthogonal_matrix(self.num_features, self.head_channels, generator)
        self.projection = new.to(self.projection)
        self.calls_since_redraw.zero_()

    def step(self) -> None:
        """Count a training forward; redraw first when ``redraw_interval`` have passed."""
        if self.redraw_interval > 0:
            if int(self.calls_since_redraw) >= self.redraw_interval:
                self.redraw_projection()
            self.calls_since_redraw += 1

    def reset_parameters(self) -> None:
        self.redraw_projection()

    stabilised_keys = True

    def key_parts(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(W x' - |x'|^2 / 2 - log(M) / 2, W x')``: key features are ``exp(first - c)``
        with ``c`` the maximum of the second over the graph's keys and features."""
        proj, sq = self._exponent(x)
        return proj - (sq + 0.5 * math.log(self.num_features)), proj

    def _exponent(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(W x', |x'|^2 / 2)`` with ``x' = x / D^{1/4}``, ``[B, L, H, M]`` and ``[B, L, H, 1]``."""
        x = x * self.head_channels**-0.25
        return x @ self.projection.T, 0.5 * (x * x).sum(dim=-1, keepdim=True)

    def forward(self, x: Tensor, is_query: bool, mask: OptTensor = None) -> Tensor:
        proj, sq = self._exponent(x)  # (B, L, H, M), (B, L, H, 1)
        if is_query:
            stab = proj.amax(dim=-1, keepdim=True)
        else:
            masked = proj if mask is None else proj.masked_fill(~mask, float("-inf"))
            stab = masked.amax(dim=(1, 3), keepdim=True)  # per graph and head: over L and M
        # the 1/sqrt(M) factor folded into the exponent; in place on the fresh matmul output
        shift = stab.detach() + 0.5 * math.log(self.num_features)
        return torch.exp(proj.sub_(sq).sub_(shift))

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.head_channels}, num_features={self.num_features}, "
            f"redraw_interval={self.redraw_interval})"
        )
