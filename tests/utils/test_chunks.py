"""graphformers.utils.chunks: which modules are row-wise, how rows are cut."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch_geometric.nn import BatchNorm, GraphNorm

from graphformers.blocks.feed_forward import FeedForward
from graphformers.local.norm import batch_norm
from graphformers.utils.chunks import is_rowwise, needs_autograd, row_chunks, widest_row, worth_chunking


def test_row_chunks_cover_every_row_once_in_order():
    chunks = list(row_chunks(10, width=4, elements=12))  # 3 rows per chunk
    assert chunks == [slice(0, 3), slice(3, 6), slice(6, 9), slice(9, 10)]
    assert list(row_chunks(0, 4, 12)) == []
    assert list(row_chunks(5, width=100, elements=12)) == [slice(i, i + 1) for i in range(5)]  # at least one row


@pytest.mark.parametrize(
    "module, train, evaluate",
    [
        (nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 4)), True, True),
        (FeedForward(4, dropout=0.0), True, True),
        (FeedForward(4, dropout=0.1), False, True),  # dropout draws one mask for all rows in training
        (batch_norm(4), False, True),  # batch statistics in training, running statistics in eval
        (nn.BatchNorm1d(4, track_running_stats=False), False, False),  # batch statistics always
        (nn.LayerNorm(4), True, True),
        (GraphNorm(4), False, False),  # normalises over each graph: unknown, never chunked
        (nn.Sequential(nn.Linear(4, 4), GraphNorm(4)), False, False),
    ],
)
def test_is_rowwise_in_training_and_eval(module, train, evaluate):
    assert is_rowwise(module.train()) is train
    assert is_rowwise(module.eval()) is evaluate


def test_rowwise_modules_give_the_same_rows_in_chunks():
    torch.manual_seed(0)
    ffn = nn.Sequential(nn.Linear(4, 8), nn.GELU(), nn.Linear(8, 4), BatchNorm(4)).eval()
    ffn[3].module.running_mean.uniform_(-1, 1)
    x = torch.randn(11, 4)
    expected = ffn(x)
    out = torch.empty_like(x)
    with torch.no_grad():
        for rows in row_chunks(11, width=8, elements=3 * 8):
            out[rows] = ffn(x[rows])
    torch.testing.assert_close(out, expected.detach(), atol=1e-6, rtol=0)


def test_needs_autograd():
    lin = nn.Linear(2, 2)
    x = torch.randn(3, 2)
    assert needs_autograd(lin, x)  # parameters need gradients
    with torch.no_grad():
        assert not needs_autograd(lin, x.requires_grad_())
    lin.requires_grad_(False)
    assert not needs_autograd(lin, x.detach(), None)
    assert needs_autograd(lin, x.detach().requires_grad_())


def test_worth_chunking_above_glibcs_largest_mmap_threshold():
    assert not worth_chunking(2**21, 4)  # exactly 32 MiB of float32: still reused from the heap
    assert worth_chunking(2**21 + 1, 4)
    assert worth_chunking(2**20 + 1, 4, element_size=8)
    assert not worth_chunking(40_000, 192)  # a GPS layer's [N, 3C] at 40k nodes, C = 64: 29 MiB
    assert worth_chunking(50_000, 192)


def test_widest_row_is_the_input_width_or_the_widest_linear():
    assert widest_row(FeedForward(4, hidden_channels=16), 4) == 16
    assert widest_row(FeedForward(4, hidden_channels=16), 24) == 24
    assert widest_row(nn.Sequential(nn.ReLU(), nn.Identity()), 7) == 7
