"""MLP readouts for node- and graph-level prediction."""

from __future__ import annotations

from typing import Callable

from torch import Tensor, nn
from torch_geometric.nn import global_add_pool, global_max_pool, global_mean_pool

from graphformers.typing import OptTensor

POOLS: dict[str, Callable[..., Tensor]] = {
    "mean": global_mean_pool,
    "add": global_add_pool,
    "sum": global_add_pool,
    "max": global_max_pool,
}


def _mlp(channels: int, out_channels: int, num_layers: int, dropout: float) -> nn.Sequential:
    if num_layers < 1:
        raise ValueError(f"num_layers must be >= 1, got {num_layers}")
    layers: list[nn.Module] = []
    for _ in range(num_layers - 1):
        layers += [nn.Linear(channels, channels), nn.ReLU(), nn.Dropout(dropout)]
    layers.append(nn.Linear(channels, out_channels))
    return nn.Sequential(*layers)


class NodeHead(nn.Module):
    """Node-level readout: an MLP ``[N, C] -> [N, out_channels]``.

    Args:
        channels: input width.
        out_channels: number of targets/classes.
        num_layers: linear layers (ReLU and dropout between them).
        dropout: dropout between layers.
    """

    def __init__(self, channels: int, out_channels: int, num_layers: int = 1, dropout: float = 0.0) -> None:
        super().__init__()
        self.channels, self.out_channels, self.num_layers = channels, out_channels, num_layers
        self.mlp = _mlp(channels, out_channels, num_layers, dropout)

    def reset_parameters(self) -> None:
        for m in self.mlp:
            if isinstance(m, nn.Linear):
                m.reset_parameters()

    def forward(self, x: Tensor, batch: OptTensor = None, num_graphs: int | None = None) -> Tensor:
        """``[N, C] -> [N, out_channels]``; ``batch`` and ``num_graphs`` are accepted and unused."""
        return self.mlp(x)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.channels}, {self.out_channels}, num_layers={self.num_layers})"


class GraphHead(NodeHead):
    """Graph-level readout: pool nodes per graph, then an MLP ``[B, C] -> [B, out]``.

    Without ``num_graphs`` the number of graphs is inferred as ``batch.max() + 1``,
    which drops trailing graphs with no nodes; pass ``num_graphs=batch.num_graphs``
    to get one row per graph (a graph without nodes pools to zeros).

    Args:
        channels: input width.
        out_channels: number of targets/classes.
        pool: ``"mean"``, ``"add"``/``"sum"`` or ``"max"`` (PyG global pooling).
        num_layers: linear layers after pooling.
        dropout: dropout between layers.
    """

    def __init__(
        self, channels: int, out_channels: int, pool: str = "mean", num_layers: int = 2, dropout: float = 0.0
    ) -> None:
        super().__init__(channels, out_channels, num_layers, dropout)
        if pool not in POOLS:
            raise ValueError(f"pool must be one of {sorted(POOLS)}, got {pool!r}")
        self.pool = pool

    def forward(self, x: Tensor, batch: OptTensor = None, num_graphs: int | None = None) -> Tensor:
        """Pool ``x`` per graph and apply the MLP.

        Args:
            x: node features ``[N, C]``.
            batch: graph index of each node ``[N]`` (None: one graph).
            num_graphs: number of graphs ``B`` (e.g. ``Batch.num_graphs``); None
                infers ``batch.max() + 1``, which misses trailing empty graphs.

        Returns:
            ``[B, out_channels]``.

        Raises:
            ValueError: ``num_graphs`` is below 1 or smaller than a graph index in ``batch``.
        """
        if num_graphs is not None:
            if num_graphs < 1:
                raise ValueError(f"num_graphs must be >= 1, got {num_graphs}")
            if batch is not None and batch.numel() and int(batch.max()) >= num_graphs:
                raise ValueError(f"num_graphs={num_graphs} but batch holds graph index {int(batch.max())}")
        return self.mlp(POOLS[self.pool](x, batch, size=num_graphs))

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.channels}, {self.out_channels}, pool={self.pool}, "
            f"num_layers={self.num_layers})"
        )
