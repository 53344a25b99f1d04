"""Learnable encoder of the random-walk landing probabilities written by ``AddRandomWalkSE``."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import Data

from graphformers.encodings._attrs import as_module_dtype, check_positive_int, check_width, require_attr

__all__ = ["RWSEEncoder"]


class RWSEEncoder(nn.Module):
    r"""Random-walk structural encoding: optional BatchNorm on the raw RWSE, then linear.

    The RWSE of `"Graph Neural Networks with Learnable Structural and Positional
    Representations" <https://arxiv.org/abs/2110.07875>`_ embedded as in GraphGPS
    (`"Recipe for a General, Powerful, Scalable Graph Transformer"
    <https://arxiv.org/abs/2205.12454>`_, ``posenc_RWSE`` with
    ``raw_norm_type: BatchNorm`` and a linear encoder):

    .. math::
        \mathbf{p}_i = \mathbf{W}\,\mathrm{BN}(\mathbf{r}_i) + \mathbf{b},
        \qquad \mathbf{r}_i = [(\mathbf{P})_{ii}, \dots, (\mathbf{P}^{T})_{ii}].

    In training mode BatchNorm uses the statistics of the current batch (so a
    node's output depends on its batch, as in GraphGPS); in eval mode it uses the
    running statistics and graphs are independent.

    Args:
        walk_length (int): :math:`T`, the width of ``data.rwse``.
        out_channels (int): output width :math:`F`.
        norm (bool, optional): apply ``BatchNorm1d(T)`` to the raw input.
            (default: ``True``)
        attr_name (str, optional): attribute written by ``AddRandomWalkSE``.
            (default: ``"rwse"``)

    Shapes:
        - **input:** ``data.rwse`` ``[N, T]``
        - **output:** ``[N, F]``
    """

    def __init__(self, walk_length: int, out_channels: int, *, norm: bool = True, attr_name: str = "rwse") -> None:
        super().__init__()
        check_positive_int(walk_length, "walk_length")
        check_positive_int(out_channels, "out_channels")
        self.walk_length = walk_length
        self.out_channels = out_channels
        self.attr_name = attr_name
        self.norm = nn.BatchNorm1d(walk_length) if norm else None
        self.lin = nn.Linear(walk_length, out_channels)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-initialise the linear map and the norm (running statistics included)."""
        if self.norm is not None:
            self.norm.reset_parameters()
        self.lin.reset_parameters()

    def forward(self, data: Data) -> Tensor:
        """Embed ``data.rwse``."""
        owner = self.__class__.__name__
        transform = f"AddRandomWalkSE(walk_length={self.walk_length}, attr_name={self.attr_name!r})"
        rwse = require_attr(data, self.attr_name, transform, owner)
        check_width(rwse, self.attr_name, self.walk_length, "walk_length", owner)
        rwse = as_module_dtype(rwse, self)
        if self.norm is None:
            x = rwse
        elif self.training and rwse.size(0) == 1:
            # one node in the whole batch (e.g. a last mini-batch of one single-atom
            # molecule): no batch statistics exist, normalise with the running ones, as
            # the library's other norms do (PyG BatchNorm, allow_single_element)
            norm = self.norm
            x = F.batch_norm(rwse, norm.running_mean, norm.running_var, norm.weight, norm.bias, False, 0.0, norm.eps)
        else:
            x = self.norm(rwse)
        return self.lin(x)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(walk_length={self.walk_length}, out_channels={self.out_channels}, "
            f"norm={self.norm is not None})"
        )
