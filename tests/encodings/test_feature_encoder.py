"""FeatureEncoder: node features and PE/SE embeddings concatenated, as GraphGPS does."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch_geometric.data import Batch, Data
from torch_geometric.transforms import Compose

from graphformers.encodings import FeatureEncoder, LinearLapPE, RWSEEncoder, SignNetLapPE
from graphformers.testing import (
    assert_batch_independent,
    assert_every_param_has_grad,
    assert_permutation_equivariant,
    assert_reset_changes_parameters,
    random_graph,
)
from graphformers.transforms.positional import AddLaplacianPE, AddRandomWalkSE

PRE = Compose([AddLaplacianPE(3), AddRandomWalkSE(4)])


def graphs(sizes=(6, 2, 10)) -> list[Data]:
    g = torch.Generator().manual_seed(0)
    return [PRE(random_graph(n, 2 * n, channels=5, generator=g)) for n in sizes]


def make(node_encoder: nn.Module | None = None) -> FeatureEncoder:
    node = node_encoder if node_encoder is not None else nn.Linear(5, 9)
    return FeatureEncoder(node, [LinearLapPE(3, 4), SignNetLapPE(3, 2, hidden_channels=8), RWSEEncoder(4, 3)])


def test_output_is_the_concatenation_of_the_parts():
    batch = Batch.from_data_list(graphs())
    enc = make().eval()
    out = enc(batch)
    assert enc.out_channels == 9 + 4 + 2 + 3 == out.size(1)
    parts = [enc.node_encoder(batch.x), *[m(batch) for m in enc.pe_encoders]]
    torch.testing.assert_close(out, torch.cat(parts, dim=-1))
    torch.testing.assert_close(out[:, 9:13], enc.pe_encoders[0](batch))


def test_no_pe_encoders_and_integer_features():
    data = Data(z=torch.tensor([0, 3, 3, 1]), edge_index=torch.empty(2, 0, dtype=torch.long))
    emb = nn.Embedding(5, 6)
    enc = FeatureEncoder(emb, node_in_key="z")
    assert enc.out_channels == 6
    torch.testing.assert_close(enc(data), emb.weight[data.z])


def test_unknown_width_is_none():
    assert make(nn.Sequential(nn.Linear(5, 9), nn.ReLU())).out_channels is None


def test_batch_independent_permutation_equivariant_and_trainable():
    enc = make()
    batch = Batch.from_data_list(graphs())
    assert_every_param_has_grad(enc, enc(batch).pow(2).sum())
    enc.eval()
    gs = graphs((5, 2, 9, 4))
    assert_batch_independent(enc, gs[0], gs[1:])
    # end to end (transform + encoders): sign-invariant parts need no sign fixing
    sign_free = FeatureEncoder(nn.Linear(5, 3), [SignNetLapPE(3, 2), RWSEEncoder(4, 3)]).eval()
    raw = random_graph(9, 16, channels=5, generator=torch.Generator().manual_seed(4))
    assert_permutation_equivariant(lambda d: sign_free(PRE(d)), raw)


def test_reset_reaches_every_part():
    # the Sequential node encoder has no reset_parameters of its own
    enc = make(nn.Sequential(nn.Linear(5, 9), nn.ReLU(), nn.Linear(9, 9)))
    assert_reset_changes_parameters(enc)


def test_missing_attributes_are_named():
    bare = Batch.from_data_list([random_graph(4, 4, channels=5)])
    with pytest.raises(ValueError, match=r"'lap_eigvec'.*AddLaplacianPE\(k=3"):
        make()(bare)
    enc = FeatureEncoder(nn.Linear(5, 2), [RWSEEncoder(4, 2)], node_in_key="h")
    with pytest.raises(ValueError, match=r"'rwse'.*AddRandomWalkSE\(walk_length=4"):
        enc(Batch.from_data_list([Data(h=torch.randn(3, 5), num_nodes=3)]))
    with pytest.raises(ValueError, match=r"'h' \(node_in_key\)"):
        enc(Batch.from_data_list([AddRandomWalkSE(4)(random_graph(4, 4, channels=5))]))


def test_repr():
    enc = FeatureEncoder(nn.Linear(5, 9), [RWSEEncoder(4, 3)])
    assert repr(enc) == (
        "FeatureEncoder(Linear(in_features=5, out_features=9, bias=True), "
        "pe_encoders=[RWSEEncoder(walk_length=4, out_channels=3, norm=True)], node_in_key='x')"
    )
