"""Shared type aliases and the shape glossary used in docstrings.

Shape glossary:
    N: nodes in a (mini-)batch, E: edges, B: graphs in a batch, L: the largest
    graph's node count (dense/padded form), C: channels, H: heads, D = C / H.
"""

from __future__ import annotations

from typing import Optional

from torch import Tensor

OptTensor = Optional[Tensor]

__all__ = ["OptTensor", "Tensor"]
