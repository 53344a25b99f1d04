"""The position-wise feed-forward network of transformer blocks."""

from __future__ import annotations

from typing import Callable

from torch import Tensor, nn


class FeedForward(nn.Module):
    r"""Two-layer MLP applied to every node (or token) independently.

    .. math::
        \mathrm{FFN}(x) = \mathrm{Dropout}\big(W_2\, \mathrm{Dropout}(\sigma(W_1 x + b_1)) + b_2\big)

    No residual and no norm: the enclosing block adds them.

    Args:
        channels: input and output width ``C``.
        hidden_channels: inner width (default ``2 * C``, as in GraphGPS).
        dropout: dropout after the activation and after the output layer.
        act: activation module class (default :class:`torch.nn.ReLU`).

    Shapes:
        ``[*, C] -> [*, C]``
    """

    def __init__(
        self,
        channels: int,
        hidden_channels: int | None = None,
        dropout: float = 0.0,
        act: Callable[[], nn.Module] = nn.ReLU,
    ) -> None:
        super().__init__()
        self.channels = channels
        self.hidden_channels = hidden_channels if hidden_channels is not None else 2 * channels
        self.dropout = dropout
        self.lin1 = nn.Linear(channels, self.hidden_channels)
        self.act = act()
        self.drop1 = nn.Dropout(dropout)
        self.lin2 = nn.Linear(self.hidden_channels, channels)
        self.drop2 = nn.Dropout(dropout)

    def reset_parameters(self) -> None:
        self.lin1.reset_parameters()
        self.lin2.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        return self.drop2(self.lin2(self.drop1(self.act(self.lin1(x)))))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.channels}, hidden_channels={self.hidden_channels}, dropout={self.dropout})"
