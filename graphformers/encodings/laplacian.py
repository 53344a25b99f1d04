"""Learnable encoders of the Laplacian eigenpairs written by ``AddLaplacianPE``.

Eigenvectors are only defined up to sign (and up to a basis inside a repeated
eigenvalue), so an encoder must either see random signs in training
(:class:`LinearLapPE`, as GraphGPS does) or be sign-invariant by construction
(:class:`SignNetLapPE`). The random flip lives here, never in the transform.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.data import Data
from torch_geometric.nn import MLP

from graphformers.encodings._attrs import (
    as_module_dtype,
    check_positive_int,
    check_width,
    graph_index,
    require_attr,
    reset_module,
)

__all__ = ["LinearLapPE", "SignNetLapPE"]


def _read_eigpairs(module: nn.Module, data: Data, k: int, prefix: str) -> tuple[Tensor, Tensor, Tensor]:
    """``(eigvec, eigval, mask)``, each ``[N, k]``, with padded entries zeroed.

    Padded entries may hold anything (zeros from our transform, NaN from GraphGPS'
    preprocessing); they are replaced by 0 so they cannot leak into the output.
    """
    owner = module.__class__.__name__
    transform = f"AddLaplacianPE(k={k}, attr_prefix={prefix!r})"
    vec = require_attr(data, f"{prefix}_eigvec", transform, owner)
    val = require_attr(data, f"{prefix}_eigval", transform, owner)
    mask = require_attr(data, f"{prefix}_mask", transform, owner)
    for name, value in ((f"{prefix}_eigvec", vec), (f"{prefix}_eigval", val), (f"{prefix}_mask", mask)):
        check_width(value, name, k, "k", owner)
    mask = mask.bool()
    vec, val = as_module_dtype(vec, module), as_module_dtype(val, module)
    return vec.masked_fill(~mask, 0.0), val.masked_fill(~mask, 0.0), mask


class LinearLapPE(nn.Module):
    r"""Linear Laplacian PE with a training-time random sign flip.

    The LapPE of `"Benchmarking Graph Neural Networks"
    <https://arxiv.org/abs/2003.00982>`_ with eigenvalues as extra inputs, as in
    GraphGPS (`"Recipe for a General, Powerful, Scalable Graph Transformer"
    <https://arxiv.org/abs/2205.12454>`_). Per node :math:`i`,

    .. math::
        \mathbf{p}_i = \mathbf{W}\,\mathrm{norm}\big([s_{g,1} u_{i1}, \dots,
        s_{g,k} u_{ik}, \lambda_1, \dots, \lambda_k]\big) + \mathbf{b},

    where :math:`s_{g,j} \in \{-1, 1\}` is drawn uniformly per graph :math:`g` and
    eigenvector :math:`j` in training mode (via ``data.batch``) and is 1 in eval
    mode, so evaluation is deterministic. Masked (padded) eigenpairs enter as 0
    before and after ``raw_norm``, so they contribute nothing beyond the bias.

    Deviation: GraphGPS embeds each eigenpair with one shared ``Linear(2, F)``
    followed by a DeepSet or Transformer over the ``k`` pairs; here one linear map
    sees all ``k`` pairs at once (per-position weights, as in the original LapPE),
    which is the plain linear variant. For a set encoder use :class:`SignNetLapPE`.

    Args:
        k (int): number of eigenpairs (the ``k`` of ``AddLaplacianPE``).
        out_channels (int): output width :math:`F`.
        use_eigval (bool, optional): also feed the eigenvalues. (default: ``True``)
        raw_norm (nn.Module, optional): applied to the ``[N, k]`` (or ``[N, 2k]``
            with eigenvalues) raw input, e.g. ``nn.BatchNorm1d(2 * k)`` as
            GraphGPS's ``raw_norm_type: BatchNorm``. (default: ``None``)
        sign_flip (bool, optional): flip signs in training. (default: ``True``)
        attr_prefix (str, optional): prefix of the attributes written by
            ``AddLaplacianPE``. (default: ``"lap"``)

    Shapes:
        - **input:** ``data.{prefix}_eigvec``, ``data.{prefix}_eigval``,
          ``data.{prefix}_mask`` ``[N, k]``, optional ``data.batch`` ``[N]``
        - **output:** ``[N, F]``
    """

    def __init__(
        self,
        k: int,
        out_channels: int,
        *,
        use_eigval: bool = True,
        raw_norm: nn.Module | None = None,
        sign_flip: bool = True,
        attr_prefix: str = "lap",
    ) -> None:
        super().__init__()
        check_positive_int(k, "k")
        check_positive_int(out_channels, "out_channels")
        self.k = k
        self.out_channels = out_channels
        self.use_eigval = use_eigval
        self.sign_flip = sign_flip
        self.attr_prefix = attr_prefix
        self.in_channels = 2 * k if use_eigval else k
        self.raw_norm = raw_norm
        self.lin = nn.Linear(self.in_channels, out_channels)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-initialise the linear map (and ``raw_norm`` if it has parameters)."""
        self.lin.reset_parameters()
        if self.raw_norm is not None:
            reset_module(self.raw_norm)

    def forward(self, data: Data, *, generator: torch.Generator | None = None) -> Tensor:
        """Embed the eigenpairs of ``data``; ``generator`` seeds the training sign flip."""
        vec, val, mask = _read_eigpairs(self, data, self.k, self.attr_prefix)
        if self.training and self.sign_flip:
            batch, num_graphs = graph_index(data, vec.size(0))
            sign = torch.randint(0, 2, (num_graphs, self.k), generator=generator, device=vec.device)
            sign = (2 * sign - 1).to(vec.dtype)  # [B, k]
            vec = vec * (sign[0] if batch is None else sign[batch])
        x = torch.cat([vec, val], dim=-1) if self.use_eigval else vec
        if self.raw_norm is not None:
            full_mask = mask.repeat(1, 2) if self.use_eigval else mask
            x = self.raw_norm(x).masked_fill(~full_mask, 0.0)
        return self.lin(x)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(k={self.k}, out_channels={self.out_channels}, "
            f"use_eigval={self.use_eigval}, raw_norm={self.raw_norm}, sign_flip={self.sign_flip})"
        )


class SignNetLapPE(nn.Module):
    r"""Sign-invariant Laplacian PE: a DeepSet over eigenvectors with :math:`\phi(v) + \phi(-v)`.

    After SignNet, `"Sign and Basis Invariant Networks for Spectral Graph
    Representation Learning" <https://arxiv.org/abs/2202.13013>`_, as offered
    by GraphGPS (`arXiv:2205.12454 <https://arxiv.org/abs/2205.12454>`_). Per node
    :math:`i`,

    .. math::
        \mathbf{p}_i = \rho\Big(\sum_{j:\,m_{ij}} \phi([u_{ij}, \lambda_j])
        + \phi([-u_{ij}, \lambda_j])\Big),

    with :math:`\rho: \mathbb{R}^H \to \mathbb{R}^F` an MLP and :math:`\phi` an
    MLP :math:`\mathbb{R}^2 \to \mathbb{R}^H`, optionally preceded by
    ``phi_conv_layers`` GIN layers that run over the graph on each eigenvector
    separately (:math:`\mathbf{h}' = \mathrm{ReLU}(\mathrm{MLP}((1+\epsilon)
    \mathbf{h}_i + \sum_{j \to i} \mathbf{h}_j))`, the eigenvectors acting as a
    batch dimension). Flipping the sign of any eigenvector leaves the output
    unchanged (in train and eval mode), the sum makes it invariant to the order
    of the eigenpairs, and masked (padded) pairs are left out of the sum.

    Deviation: SignNet's :math:`\phi` is a GIN over the graph. The default here,
    ``phi_conv_layers=0``, is GraphGPS's cheaper MLP :math:`\phi` on each node's
    entry, which keeps only even functions of each :math:`u_{ij}` and leaves
    cross-node structure to the layers that follow; ``phi_conv_layers >= 1``
    gives the paper's GNN :math:`\phi` (it then reads ``edge_index``).

    Args:
        k (int): number of eigenpairs (the ``k`` of ``AddLaplacianPE``).
        out_channels (int): output width :math:`F`.
        hidden_channels (int, optional): width :math:`H` of :math:`\phi`.
            (default: ``16``)
        phi_layers (int, optional): layers of :math:`\phi`. (default: ``2``)
        rho_layers (int, optional): layers of :math:`\rho`. (default: ``2``)
        phi_conv_layers (int, optional): GIN layers at the start of
            :math:`\phi` (0: none). (default: ``0``)
        use_eigval (bool, optional): feed :math:`\lambda_j` to :math:`\phi`.
            (default: ``True``)
        attr_prefix (str, optional): prefix of the attributes written by
            ``AddLaplacianPE``. (default: ``"lap"``)

    Shapes:
        - **input:** ``data.{prefix}_eigvec``, ``data.{prefix}_eigval``,
          ``data.{prefix}_mask`` ``[N, k]``; ``edge_index`` ``[2, E]`` when
          ``phi_conv_layers >= 1``
        - **output:** ``[N, F]``
    """

    def __init__(
        self,
        k: int,
        out_channels: int,
        *,
        hidden_channels: int = 16,
        phi_layers: int = 2,
        rho_layers: int = 2,
        phi_conv_layers: int = 0,
        use_eigval: bool = True,
        attr_prefix: str = "lap",
    ) -> None:
        super().__init__()
        for value, name in (
            (k, "k"),
            (out_channels, "out_channels"),
            (hidden_channels, "hidden_channels"),
            (phi_layers, "phi_layers"),
            (rho_layers, "rho_layers"),
        ):
            check_positive_int(value, name)
        if isinstance(phi_conv_layers, bool) or not isinstance(phi_conv_layers, int) or phi_conv_layers < 0:
            raise ValueError(f"phi_conv_layers must be an integer >= 0, got {phi_conv_layers!r}")
        self.k = k
        self.out_channels = out_channels
        self.hidden_channels = hidden_channels
        self.phi_layers = phi_layers
        self.rho_layers = rho_layers
        self.phi_conv_layers = phi_conv_layers
        self.use_eigval = use_eigval
        self.attr_prefix = attr_prefix
        in_channels = 2 if use_eigval else 1
        self.phi_convs = nn.ModuleList(
            _EigvecGIN(in_channels if i == 0 else hidden_channels, hidden_channels) for i in range(phi_conv_layers)
        )
        phi_in = hidden_channels if phi_conv_layers else in_channels
        self.phi = MLP(in_channels=phi_in, hidden_channels=hidden_channels, out_channels=hidden_channels,
                       num_layers=phi_layers, norm=None)
        self.rho = MLP(in_channels=hidden_channels, hidden_channels=hidden_channels, out_channels=out_channels,
                       num_layers=rho_layers, norm=None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-initialise :math:`\\phi` and :math:`\\rho`."""
        for conv in self.phi_convs:
            conv.reset_parameters()
        self.phi.reset_parameters()
        self.rho.reset_parameters()

    def forward(self, data: Data) -> Tensor:
        """Embed the eigenpairs of ``data`` (deterministic in train and eval)."""
        vec, val, mask = _read_eigpairs(self, data, self.k, self.attr_prefix)
        pos = vec.unsqueeze(-1)  # [N, k, 1]
        neg = -pos
        if self.use_eigval:
            lam = val.unsqueeze(-1)
            pos, neg = torch.cat([pos, lam], dim=-1), torch.cat([neg, lam], dim=-1)  # [N, k, 2]
        edge_index = None
        if self.phi_convs:
            edge_index = data.get("edge_index")
            if edge_index is None:
                raise ValueError("SignNetLapPE with phi_conv_layers >= 1 needs data.edge_index")
        h = self._phi(pos, edge_index) + self._phi(neg, edge_index)  # [N, k, H]
        h = (h * mask.unsqueeze(-1).to(h.dtype)).sum(dim=1)  # [N, H]
        return self.rho(h)

    def _phi(self, x: Tensor, edge_index: Tensor | None) -> Tensor:
        for conv in self.phi_convs:
            x = conv(x, edge_index)
        return self.phi(x)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(k={self.k}, out_channels={self.out_channels}, "
            f"hidden_channels={self.hidden_channels}, phi_layers={self.phi_layers}, "
            f"rho_layers={self.rho_layers}, phi_conv_layers={self.phi_conv_layers}, use_eigval={self.use_eigval})"
        )


class _EigvecGIN(nn.Module):
    """One GIN layer on ``[N, k, C]`` signals: the ``k`` eigenvectors are independent channels.

    ``h'_i = ReLU(MLP((1 + eps) h_i + sum_{j -> i} h_j))`` (Xu et al., 2019,
    https://arxiv.org/abs/1810.00826), with a learnable ``eps``.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.mlp = MLP(in_channels=in_channels, hidden_channels=out_channels, out_channels=out_channels,
                       num_layers=2, norm=None)
        self.eps = nn.Parameter(torch.zeros(1))

    def reset_parameters(self) -> None:
        self.mlp.reset_parameters()
        nn.init.zeros_(self.eps)

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        src, dst = edge_index
        agg = torch.zeros_like(x).index_add_(0, dst, x[src])  # [N, k, C]
        return torch.relu(self.mlp((1 + self.eps) * x + agg))
