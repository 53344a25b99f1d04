"""A virtual node per graph: a global state that every node writes to and reads from."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import global_add_pool

from graphformers.local.norm import batch_norm
from graphformers.typing import OptTensor
from graphformers.utils.modules import reset_module

NormFactory = Callable[[int], nn.Module]


class VirtualNode(nn.Module):
    r"""Virtual-node update between two message-passing layers, after Gilmer et
    al., `"Neural Message Passing for Quantum Chemistry"
    <https://arxiv.org/abs/1704.01212>`_ (ICML 2017, Sec. 5.2) in the form of
    OGB's ``gin-virtual`` baseline (Hu et al., NeurIPS 2020) and the "MPNN + VN"
    of Cai et al., `"On the Connection Between MPNN and Graph Transformer"
    <https://arxiv.org/abs/2301.11956>`_ (ICML 2023).

    For graph :math:`g` with nodes :math:`V_g` and virtual-node state
    :math:`u_g` (initially a learned vector, zero at initialisation):

    .. math::
        u_g' = \mathrm{Dropout}\Big(\mathrm{MLP}\big(\textstyle\sum_{i \in V_g} h_i + u_g\big)\Big),
        \qquad h_i' = h_i + u_{g(i)}'

    with OGB's MLP ``Linear(C, 2C) -> Norm -> ReLU -> Linear(2C, C) -> Norm -> ReLU``.
    The sums are per graph, so no information passes between the graphs of a
    batch (with BatchNorm that holds in eval mode; in training mode the batch
    statistics couple graphs, as in any BatchNorm network). A batch of a
    single graph is fine in training too (see
    :func:`~graphformers.local.norm.batch_norm`).

    Departure from OGB: OGB pools a layer's *input* (in parallel with the
    conv) and adds the new state to the next layer's input; here the state is
    updated from the layer's *output* and broadcast at once, i.e. the
    aggregate-then-broadcast order of Cai et al. Both give every layer after
    the first a global read-out of the graph.

    Args:
        channels: node width ``C``.
        dropout: dropout on the new state (default: ``0.0``).
        norm: factory for the MLP's two norms (default
            :func:`~graphformers.local.norm.batch_norm`;
            ``None`` = no norm).
        learn_initial: learn the initial state (default ``True``); ``False``
            keeps it at zero, for the later virtual nodes of a stack, which
            always receive the previous state.

    Shapes:
        x ``[N, C]``, batch ``[N]`` or ``None``, state ``[B, C]`` or ``None``
        -> (``[N, C]``, ``[B, C]``).
    """

    def __init__(
        self,
        channels: int,
        *,
        dropout: float = 0.0,
        norm: NormFactory | None = batch_norm,
        learn_initial: bool = True,
    ) -> None:
        super().__init__()
        self.channels = channels
        self.dropout = dropout
        make_norm = norm if norm is not None else (lambda c: nn.Identity())
        if learn_initial:
            self.initial = nn.Parameter(torch.zeros(channels))
        else:
            self.register_buffer("initial", torch.zeros(channels))
        self.mlp = nn.Sequential(
            nn.Linear(channels, 2 * channels),
            make_norm(2 * channels),
            nn.ReLU(),
            nn.Linear(2 * channels, channels),
            make_norm(channels),
            nn.ReLU(),
        )

    def reset_parameters(self) -> None:
        self.initial.data.zero_()
        reset_module(self.mlp)

    def forward(
        self, x: Tensor, batch: OptTensor = None, state: OptTensor = None, num_graphs: int | None = None
    ) -> tuple[Tensor, Tensor]:
        """Update the per-graph states from ``x`` and add them back to every node.

        Args:
            x: node states ``[N, C]``.
            batch: graph id of every node ``[N]`` (``None``: one graph).
            state: the previous virtual-node states ``[B, C]`` (``None``: the
                learned initial state for every graph).
            num_graphs: ``B`` (default: ``batch.max() + 1``); pass it when
                trailing graphs may be empty.
        """
        if x.dim() != 2 or x.size(1) != self.channels:
            raise ValueError(f"{type(self).__name__}: 'x' must have shape [N, {self.channels}], got {list(x.shape)}")
        if batch is None:
            batch = x.new_zeros(x.size(0), dtype=torch.long)
        if num_graphs is None:
            num_graphs = int(batch.max()) + 1 if batch.numel() > 0 else 1
        if state is None:
            state = self.initial.expand(num_graphs, -1)
        elif state.shape != (num_graphs, self.channels):
            raise ValueError(
                f"{type(self).__name__}: 'state' must have shape [{num_graphs}, {self.channels}], "
                f"got {list(state.shape)}"
            )
        pooled = global_add_pool(x, batch, size=num_graphs)  # [B, C]
        state = F.dropout(self.mlp(pooled + state), self.dropout, self.training)
        return x + state[batch], state

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.channels}, dropout={self.dropout})"
