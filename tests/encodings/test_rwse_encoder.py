"""RWSEEncoder: BatchNorm on the raw landing probabilities, then linear."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Batch, Data

from graphformers.encodings import RWSEEncoder
from graphformers.testing import (
    assert_batch_independent,
    assert_every_param_has_grad,
    assert_reset_changes_parameters,
    random_graph,
)
from graphformers.transforms.positional import AddRandomWalkSE

T = 5


def rw_graphs(sizes=(6, 3, 11)) -> list[Data]:
    g = torch.Generator().manual_seed(0)
    return [AddRandomWalkSE(T)(random_graph(n, 2 * n, generator=g)) for n in sizes]


def test_eval_matches_hand_computation():
    batch = Batch.from_data_list(rw_graphs())
    enc = RWSEEncoder(T, 4)
    enc(batch)  # training pass: running statistics move away from (0, 1)
    enc.eval()
    bn = enc.norm
    z = (batch.rwse - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps) * bn.weight + bn.bias
    torch.testing.assert_close(enc(batch), z @ enc.lin.weight.T + enc.lin.bias)


def test_training_normalises_with_batch_statistics():
    batch = Batch.from_data_list(rw_graphs())
    enc = RWSEEncoder(T, T)
    with torch.no_grad():
        enc.lin.weight.copy_(torch.eye(T))
        enc.lin.bias.zero_()
    out = enc(batch)
    torch.testing.assert_close(out.mean(0), torch.zeros(T), atol=1e-5, rtol=0)
    varying = batch.rwse.var(0) > 0  # t=1 is 0 everywhere (no self-loops): stays 0
    assert varying.tolist() == [False] + [True] * (T - 1)
    var_in = batch.rwse.var(0, unbiased=False)
    expected = var_in / (var_in + enc.norm.eps)  # unit variance up to BatchNorm's eps
    torch.testing.assert_close(out.var(0, unbiased=False), expected, atol=1e-5, rtol=1e-4)


def test_without_norm_is_linear():
    batch = Batch.from_data_list(rw_graphs())
    enc = RWSEEncoder(T, 3, norm=False)
    assert enc.norm is None
    torch.testing.assert_close(enc(batch), batch.rwse @ enc.lin.weight.T + enc.lin.bias)


@pytest.mark.parametrize("norm", [True, False])
def test_batch_independent_in_eval_grads_and_reset(norm):
    graphs = rw_graphs((5, 2, 9, 4))
    enc = RWSEEncoder(T, 6, norm=norm)
    batch = Batch.from_data_list(graphs)
    assert_every_param_has_grad(enc, enc(batch).pow(2).sum())
    enc.eval()
    assert_batch_independent(enc, graphs[0], graphs[1:])
    assert_reset_changes_parameters(enc)
    if norm:
        assert torch.equal(enc.norm.running_mean, torch.zeros(T))


def test_repr_and_errors():
    assert repr(RWSEEncoder(20, 16)) == "RWSEEncoder(walk_length=20, out_channels=16, norm=True)"
    with pytest.raises(ValueError, match="walk_length must be"):
        RWSEEncoder(0, 4)
    batch = Batch.from_data_list(rw_graphs())
    with pytest.raises(ValueError, match=r"walk_length=8"):
        RWSEEncoder(8, 4)(batch)
    with pytest.raises(ValueError, match=r"'rwse'.*AddRandomWalkSE"):
        RWSEEncoder(T, 4)(Batch.from_data_list([random_graph(3, 3)]))


def test_training_on_a_single_node_uses_the_running_statistics():
    """A batch of one single-node graph (a last mini-batch of one one-atom molecule) has no
    batch statistics: training mode normalises with the running ones, as eval does, and
    leaves them unchanged (BatchNorm1d alone raises)."""
    torch.manual_seed(0)
    enc = RWSEEncoder(4, 8)
    enc.train()(Data(rwse=torch.rand(6, 4), num_nodes=6))  # running statistics away from 0 / 1
    mean, var = enc.norm.running_mean.clone(), enc.norm.running_var.clone()
    one = Data(rwse=torch.rand(1, 4), num_nodes=1)
    out = enc(one)
    assert torch.equal(enc.norm.running_mean, mean) and torch.equal(enc.norm.running_var, var)
    torch.testing.assert_close(out, enc.eval()(one))
