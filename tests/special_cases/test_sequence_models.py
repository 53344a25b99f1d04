"""SequenceEncoder / CausalDecoder: parity with torch, the role of positions, causality."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch_geometric.data import Batch, Data

from graphformers.models.sequence import (
    CausalDecoder,
    LearnedPositionEncoding,
    RelativePositionBias,
    SequenceEncoder,
    SinusoidalPositionEncoding,
)
from graphformers.testing import assert_every_param_has_grad, assert_permutation_equivariant
from graphformers.transforms.sequence import SequenceToGraph, sinusoidal_encoding

C, H = 16, 4


@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_equals_torch_transformer_encoder(norm_first):
    layer = nn.TransformerEncoderLayer(C, H, 32, dropout=0.0, batch_first=True, norm_first=norm_first)
    ref = nn.TransformerEncoder(layer, 3, norm=nn.LayerNorm(C), enable_nested_tensor=False).eval()
    ours = SequenceEncoder(C, 3, heads=H, hidden_channels=32, norm_first=norm_first, final_norm=True)
    ours.load_from_torch(ref).eval()
    x = torch.randn(2, 9, C)
    g = Batch.from_data_list([SequenceToGraph()(Data(x=s)) for s in x])
    torch.testing.assert_close(ours(g.x, g.edge_index, g.batch).view(2, 9, C), ref(x), atol=1e-5, rtol=1e-5)


def test_without_positions_permuting_tokens_permutes_outputs():
    model = SequenceEncoder(C, 2, heads=H).eval()
    data = SequenceToGraph()(Data(x=torch.randn(6, C)))
    assert_permutation_equivariant(lambda d: model(d.x, d.edge_index), data)


def test_with_positions_order_matters():
    """The reason sequences need PE: with positions attached to slots, a permutation is visible."""
    model = SequenceEncoder(C, 2, heads=H, pos_encoder=SinusoidalPositionEncoding(C)).eval()
    data = SequenceToGraph()(Data(x=torch.randn(6, C)))
    perm = torch.tensor([3, 0, 5, 1, 4, 2])
    out = model(data.x, data.edge_index, position=data.position)
    out_perm = model(data.x[perm], data.edge_index, position=data.position)
    assert not torch.allclose(out_perm, out[perm], atol=1e-3)


def test_position_encoders():
    assert torch.equal(SinusoidalPositionEncoding(8)(torch.arange(3)), sinusoidal_encoding(torch.arange(3), 8))
    learned = LearnedPositionEncoding(4, 8)
    assert learned(torch.tensor([0, 3])).shape == (2, 8)
    with pytest.raises(ValueError, match="out of range"):
        learned(torch.tensor([4]))


def test_relative_bias_equals_dense_reference():
    """The bias read from edge attributes rel_pos equals the dense T5-style bias B[h, i, j] = w[i - j]."""
    bias = RelativePositionBias(H, max_distance=2)
    with torch.no_grad():
        bias.weight.copy_(torch.randn_like(bias.weight))
    g = Batch.from_data_list([SequenceToGraph(relative=True)(Data(x=torch.randn(n, C))) for n in (5, 3)])
    dense = bias(g.edge_index, g.rel_pos, g.batch, g.num_nodes)
    assert dense.shape == (2, H, 5, 5)
    i, j = torch.meshgrid(torch.arange(5), torch.arange(5), indexing="ij")
    expected = bias.weight[(i - j).clamp(-2, 2) + 2].permute(2, 0, 1)
    torch.testing.assert_close(dense[0], expected)
    torch.testing.assert_close(dense[1, :, :3, :3], expected[:, :3, :3])
    assert bool((dense[1, :, 3:, :] == 0).all())


def test_encoder_with_relative_bias_is_translation_equivariant_not_permutation():
    model = SequenceEncoder(C, 1, heads=H, rel_bias=RelativePositionBias(H, 3)).eval()
    with torch.no_grad():
        model.rel_bias.weight.copy_(torch.randn_like(model.rel_bias.weight))
    data = SequenceToGraph(relative=True)(Data(x=torch.randn(5, C)))
    out = model(data.x, data.edge_index, rel_pos=data.rel_pos)
    flipped = model(data.x.flip(0), data.edge_index, rel_pos=data.rel_pos)
    assert not torch.allclose(flipped, out.flip(0), atol=1e-3)
    with pytest.raises(ValueError, match="rel_pos"):
        model(data.x, data.edge_index)


def _decoder_batch(tokens: list[torch.Tensor]) -> Batch:
    return Batch.from_data_list([SequenceToGraph(causal=True)(Data(x=t)) for t in tokens])


def test_decoder_is_causal():
    model = CausalDecoder(11, C, 2, heads=H, max_positions=16).eval()
    tokens = torch.randint(0, 11, (8,))
    changed = tokens.clone()
    changed[5] = (changed[5] + 1) % 11
    a, b = _decoder_batch([tokens]), _decoder_batch([changed])
    out_a = model(a.x, a.edge_index, a.batch, position=a.position)
    out_b = model(b.x, b.edge_index, b.batch, position=b.position)
    torch.testing.assert_close(out_a[:5], out_b[:5])
    assert not torch.allclose(out_a[5:], out_b[5:])


def test_decoder_equals_torch_causal_lm():
    model = CausalDecoder(11, C, 2, heads=H, hidden_channels=32, max_positions=16).eval()
    layer = nn.TransformerEncoderLayer(C, H, 32, dropout=0.0, batch_first=True, norm_first=True)
    ref = nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(C), enable_nested_tensor=False).eval()
    for ours, theirs in zip(model.encoder.layers, ref.layers):
        ours.copy_to_torch(theirs)
    ref.norm.load_state_dict(model.encoder.norm.state_dict())
    tokens = torch.randint(0, 11, (2, 6))
    emb = model.encoder.input_encoder(tokens) + model.encoder.pos_encoder(torch.arange(6))
    expected = model.lm_head(ref(emb, mask=nn.Transformer.generate_square_subsequent_mask(6), is_causal=True))
    g = _decoder_batch(list(tokens))
    out = model(g.x, g.edge_index, g.batch, position=g.position)
    torch.testing.assert_close(out.view(2, 6, 11), expected, atol=1e-5, rtol=1e-5)
    model.train()
    assert_every_param_has_grad(model, model(g.x, g.edge_index, g.batch, position=g.position).pow(2).sum())
    assert repr(model) == "CausalDecoder(11, 16, num_layers=2, heads=4)"


@pytest.mark.parametrize(
    "setting, match",
    [
        (dict(activation="gelu"), "layer 0: .*activation differs"),
        (dict(layer_norm_eps=1e-3), r"layer 0: .*layer_norm_eps \(norm1\.eps\) differs"),
        (dict(bias=False), "layer 0: .*bias differs"),
    ],
)
def test_encoder_load_from_torch_refuses_other_layer_settings(setting, match):
    """These encoders used to load silently (a different function) or fail with a bare TypeError."""
    layer = nn.TransformerEncoderLayer(C, H, 32, dropout=0.0, batch_first=True, **setting)
    ref = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
    ours = SequenceEncoder(C, 2, heads=H, hidden_channels=32)
    before = {k: v.clone() for k, v in ours.state_dict().items()}
    with pytest.raises(ValueError, match=match):
        ours.load_from_torch(ref)
    assert all(torch.equal(before[k], v) for k, v in ours.state_dict().items())


def test_encoder_load_from_torch_refuses_another_final_norm_eps():
    layer = nn.TransformerEncoderLayer(C, H, 32, dropout=0.0, batch_first=True)
    ref = nn.TransformerEncoder(layer, 1, norm=nn.LayerNorm(C, eps=1e-2), enable_nested_tensor=False)
    with pytest.raises(ValueError, match=r"final norm eps differs \(torch 0\.01, this encoder 1e-05\)"):
        SequenceEncoder(C, 1, heads=H, hidden_channels=32, final_norm=True).load_from_torch(ref)


def test_relative_bias_counts_nodes_without_edges():
    """With batch=None the bias used to be sized from edge_index: a last node without edges gave
    [1, H, 4, 4] for 5 nodes and the encoder crashed."""
    from graphformers.transforms.sequence import causal_edge_index

    edge_index = causal_edge_index(4)  # nodes 0..3; node 4 has no edges
    rel_pos = edge_index[1] - edge_index[0]
    bias = RelativePositionBias(H, 2)
    assert bias(edge_index, rel_pos, None, 5).shape == (1, H, 5, 5)
    model = SequenceEncoder(C, 1, heads=H, rel_bias=bias).eval()
    with torch.no_grad():
        bias.weight.copy_(torch.randn_like(bias.weight))
    x = torch.randn(5, C)
    out = model(x, edge_index, None, rel_pos=rel_pos)
    torch.testing.assert_close(out, model(x, edge_index, torch.zeros(5, dtype=torch.long), rel_pos=rel_pos))
    with pytest.raises(ValueError, match="refers to node 3 of only 3 nodes"):
        bias(edge_index, rel_pos, None, 3)
    negative = edge_index.clone()
    negative[0, 0] = -1  # would wrap around to the last node in to_dense_adj
    with pytest.raises(ValueError, match="refers to node -1 of only 5 nodes"):
        bias(negative, rel_pos, None, 5)
