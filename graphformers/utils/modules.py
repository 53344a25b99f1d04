"""Helpers on ``nn.Module`` trees."""

from __future__ import annotations

from torch import nn


def reset_module(module: nn.Module) -> None:
    """Reset ``module``, or, if it has no ``reset_parameters``, every submodule
    that has one (e.g. OGB's ``AtomEncoder`` has none, but its embeddings do)."""
    if hasattr(module, "reset_parameters"):
        module.reset_parameters()
        return
    for child in module.children():
        reset_module(child)
