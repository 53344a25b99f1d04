"""Shared fixtures: tiny literal graphs, a fixed seed, and the data-root skip."""

from __future__ import annotations

import pytest
import torch

from graphformers.settings import ENV_VAR, data_root
from graphformers.testing import tiny_batch, tiny_graph


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(12345)


@pytest.fixture
def graph():
    return tiny_graph(channels=8, edge_dim=4)


@pytest.fixture
def batch():
    return tiny_batch(channels=8, edge_dim=4)


@pytest.fixture
def data_dir():
    """The benchmark data folder; skips the test with a clear reason if absent."""
    root = data_root()
    if root is None:
        pytest.skip(f"benchmark data not found: set {ENV_VAR} to the offline data folder")
    return root
