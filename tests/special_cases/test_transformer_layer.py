"""TransformerLayer on the complete graph / causal DAG == torch.nn.TransformerEncoderLayer."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch_geometric.data import Batch, Data

from graphformers.attention.full import MultiheadAttention
from graphformers.blocks.feed_forward import FeedForward
from graphformers.blocks.transformer import TransformerLayer, graph_attention_mask
from graphformers.testing import assert_batch_independent, assert_every_param_has_grad
from graphformers.transforms.sequence import SequenceToGraph

C, H = 16, 4


def _pair(norm_first: bool, train: bool = False) -> tuple[nn.TransformerEncoderLayer, TransformerLayer]:
    ref = nn.TransformerEncoderLayer(C, H, 24, dropout=0.0, batch_first=True, norm_first=norm_first)
    ours = TransformerLayer(MultiheadAttention(C, H), FeedForward(C, 24), C, norm_first=norm_first)
    ours.load_from_torch(ref)
    return (ref.train(), ours.train()) if train else (ref.eval(), ours.eval())


def _graphs(x: torch.Tensor, causal: bool) -> Batch:
    return Batch.from_data_list([SequenceToGraph(causal=causal)(Data(x=seq)) for seq in x])


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("train", [False, True])
def test_equals_torch_encoder_layer(norm_first, causal, train):
    ref, ours = _pair(norm_first, train)
    x = torch.randn(3, 7, C)
    g = _graphs(x, causal)
    mask = nn.Transformer.generate_square_subsequent_mask(7) if causal else None
    expected = ref(x, src_mask=mask, is_causal=causal)
    out = ours(g.x, g.edge_index, g.batch).view(3, 7, C)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("norm_first", [False, True])
def test_equals_torch_with_padding(norm_first):
    """Sequences of different lengths == torch with a key padding mask (padded rows ignored)."""
    ref, ours = _pair(norm_first)
    lengths = [5, 2, 7]
    x = torch.randn(3, 7, C)
    g = Batch.from_data_list([SequenceToGraph()(Data(x=x[i, :n])) for i, n in enumerate(lengths)])
    pad = torch.arange(7).unsqueeze(0) >= torch.tensor(lengths).unsqueeze(1)
    expected = ref(x, src_key_padding_mask=pad)
    out = ours(g.x, g.edge_index, g.batch)
    torch.testing.assert_close(out, expected[~pad], atol=1e-5, rtol=1e-5)


def test_complete_graph_needs_no_mask_and_none_means_complete():
    g = _graphs(torch.randn(2, 4, C), causal=False)
    assert graph_attention_mask(g.edge_index, g.batch, num_nodes=8) is None
    assert graph_attention_mask(None, g.batch, num_nodes=8) is None
    _, ours = _pair(False)
    torch.testing.assert_close(ours(g.x, g.edge_index, g.batch), ours(g.x, None, g.batch))


def test_mask_of_a_general_graph_by_hand():
    # 0 -> 1, 2 -> 1, 1 -> 0 in graph 0 (3 nodes); 0 -> 1 in graph 1 (2 nodes)
    ei = torch.tensor([[0, 2, 1, 3], [1, 1, 0, 4]])
    batch = torch.tensor([0, 0, 0, 1, 1])
    mask = graph_attention_mask(ei, batch, num_nodes=5)
    assert mask.shape == (2, 1, 3, 3)
    expected0 = torch.tensor([[0, 1, 0], [1, 0, 1], [0, 0, 0]], dtype=torch.bool)  # [query, key]
    assert torch.equal(mask[0, 0], expected0)
    assert torch.equal(mask[1, 0, :2, :2], torch.tensor([[0, 0], [1, 0]], dtype=torch.bool))


def test_attention_follows_edges_only():
    """Changing a node that has no edge into node i leaves node i's output unchanged."""
    _, ours = _pair(False)
    ei = torch.tensor([[0, 1, 1, 2], [0, 0, 1, 2]])  # node 0 reads 0, 1; node 1 reads 1; node 2 reads 2
    x = torch.randn(3, C)
    x2 = x.clone()
    x2[2] += 1.0
    out, out2 = ours(x, ei), ours(x2, ei)
    torch.testing.assert_close(out[:2], out2[:2])
    assert not torch.allclose(out[2], out2[2])


def test_batch_independent_and_grads(batch):
    layer = TransformerLayer(MultiheadAttention(8, 2), FeedForward(8), 8)
    graphs = batch.to_data_list()
    assert_batch_independent(lambda b: layer(b.x, b.edge_index, b.batch), graphs[0], graphs[1:])
    assert_every_param_has_grad(layer, layer(batch.x, None, batch.batch).pow(2).sum())


def test_errors_and_repr():
    layer = TransformerLayer(MultiheadAttention(C, H), FeedForward(C), C, norm_first=True)
    assert repr(layer).startswith("TransformerLayer(16, attn=MultiheadAttention(16, heads=4")
    with pytest.raises(ValueError, match="either"):
        layer(torch.randn(3, C), torch.tensor([[0], [1]]), attn_mask=torch.ones(1, 1, 3, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="width"):
        TransformerLayer(MultiheadAttention(8), FeedForward(C), C)
    with pytest.raises(ValueError, match="norm_first"):
        layer.load_from_torch(nn.TransformerEncoderLayer(C, H, 32, batch_first=True))


@pytest.mark.parametrize(
    "setting, match",
    [
        (dict(activation="gelu"), r"activation differs \(torch layer gelu, this layer relu\)"),
        (dict(activation=nn.GELU(approximate="tanh")), r"activation differs \(torch layer GELU\(approximate='tanh'\)"),
        (dict(layer_norm_eps=1e-1), r"layer_norm_eps \(norm1\.eps\) differs \(torch layer 0\.1, this layer 1e-05\)"),
        (dict(bias=False), r"bias differs \(torch layer bias=False, this layer bias=True\)"),
    ],
)
def test_load_from_torch_refuses_a_different_function(setting, match):
    """gelu, another eps or bias=False used to load silently (another function) or fail with a TypeError."""
    ref = nn.TransformerEncoderLayer(C, H, 24, dropout=0.0, batch_first=True, **setting)
    ours = TransformerLayer(MultiheadAttention(C, H), FeedForward(C, 24), C)
    before = {k: v.clone() for k, v in ours.state_dict().items()}
    with pytest.raises(ValueError, match=match):
        ours.load_from_torch(ref)
    assert all(torch.equal(before[k], v) for k, v in ours.state_dict().items())  # nothing copied


def test_load_from_torch_matching_gelu_and_eps_is_exact():
    from functools import partial

    ref = nn.TransformerEncoderLayer(C, H, 24, dropout=0.0, batch_first=True, activation="gelu", layer_norm_eps=1e-1)
    ours = TransformerLayer(MultiheadAttention(C, H), FeedForward(C, 24, act=nn.GELU), C,
                            norm=partial(nn.LayerNorm, eps=1e-1)).load_from_torch(ref)
    ref.eval(), ours.eval()
    x = torch.randn(2, 6, C)
    g = _graphs(x, causal=False)
    torch.testing.assert_close(ours(g.x, g.edge_index, g.batch).view(2, 6, C), ref(x), atol=1e-5, rtol=1e-5)
