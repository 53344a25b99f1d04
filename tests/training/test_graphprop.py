"""graphformers.training.graphprop: NaN validation values are never selected; unlabelled batches are skipped."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch_geometric.data import Data
from torch_geometric.loader import DataLoader
from torch_geometric.nn import global_mean_pool

from graphformers.training.graphprop import fit, rmse, train_epoch


class _Mean(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 1)

    def forward(self, batch):
        return self.lin(global_mean_pool(batch.x, batch.batch))


def _graph(y: float) -> Data:
    return Data(x=torch.randn(3, 2), edge_index=torch.empty(2, 0, dtype=torch.long), y=torch.tensor([[y]]))


def _loaders(graphs, batch_size=4):
    return {k: DataLoader(graphs, batch_size) for k in ("train", "valid", "test")}


def test_nan_validation_at_epoch_one_is_not_selected():
    torch.manual_seed(0)
    graphs = [_graph(float(torch.randn(()))) for _ in range(16)]
    calls = {"valid": 0}

    def metric(y, p):  # fit evaluates valid then test each epoch: NaN on the first validation only
        calls["valid"] += 1
        return math.nan if calls["valid"] == 1 else rmse(y, p)

    res = fit(_Mean(), _loaders(graphs), loss_fn=nn.MSELoss(), metric=metric, higher_is_better=False,
              epochs=4, progress=False)
    assert math.isnan(res.history[0].valid)
    finite = [r for r in res.history if math.isfinite(r.valid)]
    best = min(finite, key=lambda r: r.valid)
    assert res.best_epoch == best.epoch and res.best_valid == best.valid
    assert res.test_at_best_valid == res.history[best.epoch - 1].test


def test_all_nan_validation_selects_nothing():
    graphs = [_graph(1.0) for _ in range(8)]
    res = fit(_Mean(), _loaders(graphs), loss_fn=nn.MSELoss(), metric=lambda y, p: math.nan,
              higher_is_better=True, epochs=2, progress=False)
    assert res.best_epoch == -1 and math.isnan(res.best_valid) and math.isnan(res.test_at_best_valid)


def test_unlabelled_batch_is_left_out_of_the_train_loss():
    torch.manual_seed(0)
    train = [_graph(math.nan) for _ in range(4)] + [_graph(1.0) for _ in range(8)]  # first batch: no labels
    model = _Mean()
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    loss = train_epoch(model, DataLoader(train, 4), opt, nn.MSELoss())
    labelled_only = train_epoch(model, DataLoader(train[4:], 4), opt, nn.MSELoss())
    assert math.isfinite(loss) and loss == labelled_only
    assert math.isnan(train_epoch(model, DataLoader(train[:4], 4), opt, nn.MSELoss()))
