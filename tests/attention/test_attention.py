import copy
import math

import pytest
import torch
from torch import nn
from torch_geometric.data import Batch

from graphformers.attention import LinearAttention, MultiheadAttention, PerformerAttention
from graphformers.testing import (
    assert_batch_independent,
    assert_every_param_has_grad,
    assert_permutation_equivariant,
    assert_reset_changes_parameters,
    random_graph,
)

ATTENTIONS = {
    "full": lambda: MultiheadAttention(8, heads=2),
    "performer": lambda: PerformerAttention(8, heads=2, num_features=16),
    "linear": lambda: LinearAttention(8, heads=2),
}


def _graphs(n_list=(5, 1, 12, 3)):
    g = torch.Generator().manual_seed(0)
    return [random_graph(n, 2 * n, channels=8, generator=g) for n in n_list]


@pytest.mark.parametrize("kind", sorted(ATTENTIONS))
def test_permutation_equivariance(kind):
    attn = ATTENTIONS[kind]().eval()
    graph = _graphs((9,))[0]
    assert_permutation_equivariant(lambda d: attn(d.x, None), graph)


@pytest.mark.parametrize("kind", sorted(ATTENTIONS))
def test_batch_independence(kind):
    attn = ATTENTIONS[kind]().eval()
    graph, *others = _graphs((6, 30, 2, 17, 1))
    assert_batch_independent(lambda b: attn(b.x, b.batch), graph, others)


def test_full_matches_torch_multihead_attention_with_padding():
    torch_mha = torch.nn.MultiheadAttention(8, 2, batch_first=True)
    ours = MultiheadAttention(8, heads=2).load_from_torch(torch_mha)
    batch = Batch.from_data_list(_graphs())
    from torch_geometric.utils import to_dense_batch

    dense, mask = to_dense_batch(batch.x, batch.batch)
    ref, _ = torch_mha(dense, dense, dense, key_padding_mask=~mask, need_weights=False)
    out = ours(batch.x, batch.batch)
    torch.testing.assert_close(out, ref[mask], atol=1e-6, rtol=1e-5)


def test_full_attention_mask_and_bias_match_explicit_softmax():
    torch.manual_seed(0)
    attn = MultiheadAttention(8, heads=2).eval()
    x = torch.randn(2, 5, 8)
    allowed = torch.rand(2, 1, 5, 5) > 0.4
    allowed[0, 0, 3] = False  # a query with no allowed key -> zeros before out_proj
    bias = torch.randn(2, 2, 5, 5)
    out = attn.forward_dense(x, None, attn_mask=allowed, attn_bias=bias)
    q, k, v = attn.in_proj(x).view(2, 5, 3, 2, 4).permute(2, 0, 3, 1, 4)
    scores = q @ k.transpose(-1, -2) / 2.0 + bias
    scores = scores.masked_fill(~allowed, float("-inf"))
    w = torch.softmax(scores, -1).nan_to_num(0.0)
    ref = attn.out_proj((w @ v).transpose(1, 2).reshape(2, 5, 8))
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-4)
    # the empty row equals out_proj(0) = bias
    torch.testing.assert_close(out[0, 3], attn.out_proj.bias)


def test_eval_is_deterministic_and_performer_redraws_only_in_training():
    attn = PerformerAttention(8, heads=2, num_features=16, redraw_interval=1)
    x = torch.randn(10, 8)
    attn.eval()
    torch.testing.assert_close(attn(x), attn(x))
    proj = attn.feature_map.projection.clone()
    attn(x)
    assert torch.equal(proj, attn.feature_map.projection)
    attn.train()
    attn(x)
    attn(x)  # the second training call passes the interval -> redraw
    assert not torch.equal(proj, attn.feature_map.projection)


def test_performer_redraw_serves_queries_and_keys_alike_and_keeps_earlier_graphs():
    """A training forward that redraws: queries and keys use the new features (the
    output equals eval mode's with them), and a graph made before the redraw still
    backpropagates (gradient accumulation over two forwards)."""
    torch.manual_seed(0)
    attn = PerformerAttention(8, heads=2, num_features=16, redraw_interval=1).train()
    x = torch.randn(10, 8, requires_grad=True)
    batch = torch.tensor([0] * 4 + [1] * 6)
    first = attn(x, batch)  # calls_since_redraw 0 -> 1, no redraw
    old = attn.feature_map.projection
    second = attn(x, batch)  # redraws before any features
    assert not torch.equal(old, attn.feature_map.projection)
    attn.eval()
    torch.testing.assert_close(second, attn(x, batch))
    (first.sum() + second.sum()).backward()  # the first graph kept its projection
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_performer_error_falls_with_more_features():
    """FAVOR+ approximates exact softmax attention better as M grows (seeded)."""
    torch.manual_seed(0)
    full = MultiheadAttention(16, heads=2).eval()
    x = torch.randn(1, 40, 16, dtype=torch.float64) * 0.7
    full = full.double()
    ref = full.forward_dense(x)
    errors = []
    for m in (4, 64, 2048):
        errs = []
        for seed in range(4):
            p = PerformerAttention(16, heads=2, num_features=m).double().eval()
            p.in_proj.load_state_dict(full.in_proj.state_dict())
            p.out_proj.load_state_dict(full.out_proj.state_dict())
            p.redraw_projection(torch.Generator().manual_seed(seed))
            errs.append((p.forward_dense(x) - ref).pow(2).mean().sqrt().item())
        errors.append(sum(errs) / len(errs))
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 0.25 * errors[0]


def test_padding_does_not_enter_the_normaliser():
    """PyG's PerformerAttention lets padded keys into the normaliser; ours must not."""
    attn = PerformerAttention(8, heads=2, num_features=32).eval()
    x = torch.randn(1, 4, 8)
    alone = attn.forward_dense(x)
    padded = torch.cat([x, torch.zeros(1, 6, 8)], dim=1)
    mask = torch.tensor([[True] * 4 + [False] * 6])
    torch.testing.assert_close(attn.forward_dense(padded, mask)[:, :4], alone, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("kind", sorted(ATTENTIONS))
def test_gradients_reset_and_repr(kind):
    attn = ATTENTIONS[kind]()
    x = torch.randn(7, 8)
    assert_every_param_has_grad(attn, attn(x, torch.tensor([0, 0, 0, 1, 1, 1, 1])).pow(2).sum())
    assert_reset_changes_parameters(attn)
    expected = {
        "full": "MultiheadAttention(8, heads=2, dropout=0.0)",
        "performer": "PerformerAttention(8, heads=2, num_features=16)",
        "linear": "LinearAttention(8, heads=2)",
    }[kind]
    assert repr(attn) == expected


def test_bad_input():
    with pytest.raises(ValueError, match="divisible"):
        MultiheadAttention(10, heads=3)
    attn = MultiheadAttention(8, heads=2)
    with pytest.raises(ValueError, match=r"\[N, 8\]"):
        attn(torch.randn(4, 7))
    with pytest.raises(ValueError, match="does not support"):
        LinearAttention(8, 2)(torch.randn(3, 8), attn_bias=torch.zeros(1, 1, 3, 3))
    with pytest.raises(ValueError, match="bool"):
        attn.forward_dense(torch.randn(1, 3, 8), attn_mask=torch.zeros(1, 1, 3, 3))
    for module in (attn, LinearAttention(8, 2)):
        with pytest.raises(ValueError, match=r"'batch' must have shape \[4\]"):
            module(torch.randn(4, 8), torch.zeros(3, dtype=torch.long))
        with pytest.raises(ValueError, match="'batch' must be sorted"):
            module(torch.randn(4, 8), torch.tensor([0, 1, 0, 1]))


def test_single_node_graphs():
    for attn in (f() for f in ATTENTIONS.values()):
        out = attn(torch.randn(3, 8), torch.tensor([0, 1, 2]))
        assert torch.isfinite(out).all()
        # a lone node attends only to itself: the output is out_proj(v)
        x = torch.randn(1, 8)
        v = attn.in_proj(x)[:, 16:]
        torch.testing.assert_close(copy.deepcopy(attn).eval()(x), attn.out_proj(v), atol=1e-4, rtol=1e-3)


def test_dense_slots_hand_checked():
    from graphformers.attention.packed import dense_slots

    # graph sizes 2, 0 (empty), 3 -> L = 3, slots b * 3 + position
    slot, counts, length = dense_slots(torch.tensor([0, 0, 2, 2, 2]))
    assert length == 3
    assert counts.tolist() == [2, 0, 3]
    assert slot.tolist() == [0, 1, 6, 7, 8]


def test_packed_layout_hand_checked():
    from graphformers.attention.packed import dense_slots, packed_layout

    # graph sizes 2, 0 (empty), 1 -> L = 2; H = 2, one bucket: 3 graphs * 2 heads * 2 slots = 12 rows per part
    batch = torch.tensor([0, 0, 2])
    packed = packed_layout(batch, dense_slots(batch), heads=2, max_buckets=1)
    assert packed.buckets == ((3, 2),)
    # row (b*H + h)*L + l of node n's head h: n0 (b0,l0), n1 (b0,l1), n2 (b2,l0)
    assert packed.out_rows.tolist() == [0, 2, 1, 3, 8, 10]
    assert packed.grad_rows.view(3, 3, 2)[0].tolist() == [[0, 2], [12, 14], [24, 26]]  # node 0, parts q/k/v
    # qkv row (n*3 + j)*H + h fills each buffer row; padding repeats its graph's first node
    # (graph 0 has none missing; empty graph 1 points at node 2; graph 2's slot l=1 at node 2)
    part_k = packed.gather_rows.view(3, 3, 2, 2)[1]  # j = 1: [B, H, L]
    assert part_k[0].tolist() == [[2, 8], [3, 9]]
    assert part_k[2].tolist() == [[14, 14], [15, 15]]
    assert packed.key_bias[0].view(3, 2, 2)[:, 0].tolist() == [[0, 0], [-math.inf, -math.inf], [0, -math.inf]]


def test_size_buckets_hand_checked():
    from graphformers.attention.packed import size_buckets

    # score entries only (D = 0): 10 graphs of 2 nodes and 2 of 30 padded to 30 cost
    # 12*900 = 10,800; two buckets 10*4 + 2*900 = 1,840 plus the overhead
    counts = torch.tensor([2] * 10 + [30] * 2)
    assert size_buckets(counts, heads=1, head_channels=0, overhead=1000) == [2, 30]
    assert size_buckets(counts, heads=1, head_channels=0, overhead=9000) == [30]  # 1,840 + 9,000 > 10,800
    assert size_buckets(counts, heads=1, max_buckets=1) == [30]
    # with the row term (D = 16: 24 entries per padded row) one bucket costs 12*30*54 = 19,440,
    # two 10*2*26 + 2*30*54 = 3,760 plus the overhead
    assert size_buckets(counts, heads=1, head_channels=16, overhead=15000) == [2, 30]
    assert size_buckets(counts, heads=1, head_channels=16, overhead=16000) == [30]
    # three sizes (and an empty graph): 3 buckets when an extra bucket is cheap; bounds are sizes that occur
    counts = torch.tensor([1] * 8 + [10] * 8 + [40, 0])
    assert size_buckets(counts, heads=2, head_channels=0, overhead=1) == [1, 10, 40]
    assert size_buckets(counts, heads=2, head_channels=0, max_buckets=2, overhead=1) == [10, 40]
    assert size_buckets(torch.tensor([5, 5, 5]), heads=4, overhead=0) == [5]  # equal sizes: one bucket
    with pytest.raises(ValueError, match="max_buckets"):
        size_buckets(counts, heads=1, max_buckets=4)


def test_size_buckets_give_the_same_attention_in_values_and_gradients(monkeypatch):
    """Padding within size buckets (three here, with an empty graph and single nodes) is the
    same function as padding every graph to the largest."""
    import graphformers.attention.packed as packed_module

    sizes = [3, 7, 1, 5, 0, 4, 20, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 31, 1, 1]
    batch = torch.cat([torch.full((n,), i) for i, n in enumerate(sizes)])
    gen = torch.Generator().manual_seed(0)
    qkv = torch.randn(batch.numel(), 24, generator=gen, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(batch.numel(), 8, generator=gen, dtype=torch.float64)
    monkeypatch.setattr(packed_module, "BUCKET_OVERHEAD_SCORES", 1)
    results = {}
    for buckets in (1, 3):
        layout = packed_module.packed_layout(batch, packed_module.dense_slots(batch), 2, 4, max_buckets=buckets)
        assert len(layout.buckets) == buckets
        out = packed_module.packed_softmax_attention(qkv, batch, heads=2, max_buckets=buckets)
        (grad,) = torch.autograd.grad((out * weight).sum(), qkv)
        results[buckets] = (out, grad)
    torch.testing.assert_close(results[3][0], results[1][0])
    torch.testing.assert_close(results[3][1], results[1][1])


def test_bucketed_packed_attention_with_dropout_passes_gradcheck(monkeypatch):
    """The hand-written backward with dropout over several buckets, against finite
    differences: reseeding before every call draws the same masks, so the function is
    deterministic in ``qkv``."""
    import graphformers.attention.packed as packed_module

    monkeypatch.setattr(packed_module, "BUCKET_OVERHEAD_SCORES", 1)
    batch = torch.tensor([0, 1, 1, 1, 2, 2, 2, 2, 2, 2, 3])
    assert len(packed_module.packed_layout(batch, packed_module.dense_slots(batch), 2, 2).buckets) == 3

    def attend(qkv):
        torch.manual_seed(3)
        return packed_module.packed_softmax_attention(qkv, batch, heads=2, dropout_p=0.3)

    qkv = torch.randn(11, 12, dtype=torch.float64, requires_grad=True)
    assert (attend(qkv) == 0).any()  # some weights dropped
    assert torch.autograd.gradcheck(attend, (qkv,))


def test_packed_path_keeps_non_finite_values_in_their_graph():
    """Padding slots copy rows of their own graph, so an inf in one graph's projections
    cannot reach another graph's keys or values (not even through a 0 * inf weight)."""
    from graphformers.attention.packed import packed_softmax_attention

    batch = torch.tensor([0, 0, 0, 1, 1, 2])
    qkv = torch.randn(6, 24, requires_grad=True)
    poisoned = qkv.detach().clone()
    poisoned[:3] = float("inf")
    out = packed_softmax_attention(poisoned, batch, heads=2)
    for b in (1, 2):
        nodes = batch == b
        alone = packed_softmax_attention(qkv.detach()[nodes], torch.zeros(int(nodes.sum()), dtype=torch.long), 2)
        torch.testing.assert_close(out[nodes], alone)


@pytest.mark.parametrize("dropout", [0.0, 0.5])
def test_packed_path_equals_padded_autograd_path(dropout):
    """The fused pad/attend/un-pad function gives the values, gradients and (seeded)
    dropout masks of the autograd composition, also around an empty graph."""
    sizes = [3, 7, 1, 5, 0, 4]
    batch = torch.cat([torch.full((n,), i) for i, n in enumerate(sizes)])
    x = torch.randn(batch.numel(), 8, generator=torch.Generator().manual_seed(1), requires_grad=True)
    weight = torch.randn(batch.numel(), 8)
    packed = MultiheadAttention(8, heads=2, dropout=dropout)
    packed.native = False  # the compiled kernel draws its dropout mask otherwise (test_native.py)
    padded = copy.deepcopy(packed)
    padded.packed = False
    results = []
    for attn in (packed, padded):
        x.grad = None
        torch.manual_seed(5)
        out = attn(x, batch)
        (out * weight).sum().backward()
        results.append((out.detach(), x.grad.clone(), [p.grad.clone() for p in attn.parameters()]))
    (out_a, gx_a, gp_a), (out_b, gx_b, gp_b) = results
    torch.testing.assert_close(out_a, out_b, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(gx_a, gx_b, atol=1e-6, rtol=1e-5)
    for a, b in zip(gp_a, gp_b):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)
    if dropout:
        assert out_a.abs().sum() > 0
        torch.manual_seed(6)
        assert not torch.allclose(packed(x, batch), out_a)  # a fresh mask


def test_packed_path_refuses_double_backward_and_can_be_switched_off():
    batch = torch.tensor([0, 0, 0, 1, 1])
    x = torch.randn(5, 8, requires_grad=True)
    attn = MultiheadAttention(8, heads=2)
    (grad,) = torch.autograd.grad(attn(x, batch).pow(2).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError):
        grad.sum().backward()
    attn.packed = False
    (grad,) = torch.autograd.grad(attn(x, batch).pow(2).sum(), x, create_graph=True)
    grad.sum().backward()  # the autograd composition supports it
    assert attn.in_proj.weight.grad is not None


@pytest.mark.parametrize("kind", ["linear", "performer"])
def test_kernel_attention_matches_per_graph_per_head_formula(kind):
    r"""out_i = phi(q_i)^T (sum_j phi(k_j) v_j^T) / phi(q_i)^T sum_j phi(k_j), j over i's graph,
    written out with loops over graphs and heads (Katharopoulos et al., Eq. 5)."""
    torch.manual_seed(0)
    attn = ATTENTIONS[kind]().double().eval()
    sizes = [4, 1, 9, 6]
    batch = torch.cat([torch.full((n,), i) for i, n in enumerate(sizes)])
    x = torch.randn(batch.numel(), 8, dtype=torch.float64)
    q, k, v = attn.in_proj(x).chunk(3, dim=-1)
    H, D = attn.heads, attn.head_channels
    expected = torch.empty(batch.numel(), 8, dtype=torch.float64)
    with torch.no_grad():
        for g in range(len(sizes)):
            idx = (batch == g).nonzero().flatten()
            for h in range(H):
                cols = slice(h * D, (h + 1) * D)
                # the feature map on one graph and head, as [1, L, 1, D] (node-major)
                phi_q = attn.feature_map(q[idx, cols].view(1, -1, 1, D), True).view(len(idx), -1)
                phi_k = attn.feature_map(k[idx, cols].view(1, -1, 1, D), False).view(len(idx), -1)
                num = phi_q @ (phi_k.T @ v[idx, cols])
                den = phi_q @ phi_k.sum(0)
                expected[idx, cols] = num / (den.unsqueeze(-1) + attn.eps)
        expected = attn.out_proj(expected)
        torch.testing.assert_close(attn(x, batch), expected, atol=1e-10, rtol=1e-8)
        torch.testing.assert_close(attn(x[batch == 2]), expected[batch == 2], atol=1e-10, rtol=1e-8)


@pytest.mark.parametrize("kind", ["linear", "performer"])
@pytest.mark.parametrize("rows_per_chunk", [1, 4, 7, 100])
def test_summary_and_query_in_chunks_equal_the_forward(monkeypatch, rows_per_chunk, kind):
    import graphformers.utils.chunks as chunks_module

    torch.manual_seed(0)
    attn = ATTENTIONS[kind]().eval()
    M = attn.feature_map.num_features
    # an empty graph (id 2) between others, graphs cut by chunk boundaries; keys far apart
    # in scale, so that FAVOR+'s running maximum really rises from chunk to chunk
    batch = torch.tensor([0] * 5 + [1] + [3] * 12 + [4] * 3)
    x = torch.randn(batch.numel(), 8) * torch.linspace(0.2, 3.0, batch.numel()).unsqueeze(1)
    expected = attn(x, batch)
    assert attn.summarizes
    width = max(2 * 8, 2 * 2 * M)
    monkeypatch.setattr(chunks_module, "INFERENCE_CHUNK_ELEMENTS", rows_per_chunk * width)
    with torch.no_grad():
        state = attn.summarize(x, batch, 5)
        assert state.shape == (5, 2, M, 5)  # [B, H, M, D+1]
        assert torch.equal(state[2], torch.zeros(2, M, 5))  # the empty graph
        out = torch.cat([attn.query(x[i:i + 3], batch[i:i + 3], state) for i in range(0, batch.numel(), 3)])
        single = attn.query(x[:5], None, attn.summarize(x[:5], None, 1))  # one graph, no batch vector
    torch.testing.assert_close(out, expected.detach(), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(single, attn(x[:5], None).detach(), atol=1e-5, rtol=1e-5)


def test_summary_refuses_unsorted_batch_and_is_absent_for_softmax_attention(monkeypatch):
    import graphformers.utils.chunks as chunks_module

    attn = LinearAttention(8, heads=2).eval()
    monkeypatch.setattr(chunks_module, "INFERENCE_CHUNK_ELEMENTS", 2 * 16)  # 2 rows per chunk
    with pytest.raises(ValueError, match="sorted.*node 2"):  # each chunk is sorted, the whole is not
        attn.summarize(torch.randn(4, 8), torch.tensor([1, 1, 0, 0]), 2)
    assert not MultiheadAttention(8, heads=2).summarizes  # softmax: no fixed-size summary
    with pytest.raises(NotImplementedError, match="summarizes"):
        MultiheadAttention(8, heads=2).summarize(torch.randn(4, 8), None, 1)


def test_mixed_sizes_split_into_packed_small_graphs_and_padded_large_ones():
    torch.manual_seed(0)
    attn = MultiheadAttention(8, heads=2)
    # a graph above max_explicit_length (64 nodes) among small ones and an empty one
    sizes = [5, 70, 0, 12, 3]
    batch = torch.cat([torch.full((n,), i) for i, n in enumerate(sizes)])
    x = torch.randn(batch.numel(), 8, requires_grad=True)
    out = attn(x, batch)
    out.square().sum().backward()
    grad, x.grad = x.grad, None
    attn.packed = False  # the padded autograd composition over the whole batch
    ref = attn(x, batch)
    ref.square().sum().backward()
    torch.testing.assert_close(out, ref, atol=1e-6, rtol=0)
    torch.testing.assert_close(grad, x.grad, atol=1e-6, rtol=0)
    # and each graph as it is alone
    start = 0
    for n in sizes:
        if n:
            alone = attn(x[start:start + n].detach(), torch.zeros(n, dtype=torch.long))
            torch.testing.assert_close(out[start:start + n], alone, atol=1e-6, rtol=0)
        start += n


def test_batch_cache_reuses_only_for_the_same_unchanged_tensor():
    from graphformers.attention.packed import BatchCache

    cache, calls = BatchCache(), []

    def compute():
        calls.append(1)
        return object()

    batch = torch.tensor([0, 0, 1])
    first = cache.get("slots", batch, (), compute)
    assert cache.get("slots", batch, (), compute) is first and len(calls) == 1
    assert cache.get("slots", batch.clone(), (), compute) is not first  # equal values, another tensor
    second = cache.get("slots", batch, (), compute)  # the clone replaced the entry
    assert second is not first and len(calls) == 3
    assert cache.get("slots", batch, (4,), compute) is not second  # another key
    third = cache.get("slots", batch, (), compute)
    batch[2] = 0  # changed in place: its version moves on
    assert cache.get("slots", batch, (), compute) is not third
    assert len(calls) == 6


def test_layers_of_one_forward_share_the_packed_layout(monkeypatch):
    """Two attention layers on the same batch tensor compute the packed layout once; a new
    batch tensor (the next mini-batch) computes it again; outputs are unchanged."""
    monkeypatch.setattr(MultiheadAttention, "native", False)  # the packed path's layout (test_native.py: the kernel)
    import graphformers.attention.packed as packed_module

    computed = []
    original = packed_module.packed_layout
    monkeypatch.setattr(packed_module, "packed_layout", lambda *a, **k: computed.append(1) or original(*a, **k))
    packed_module.batch_cache.clear()
    batch = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2])
    x = torch.randn(9, 8)
    first, second = MultiheadAttention(8, heads=2), MultiheadAttention(8, heads=2)
    out = second(first(x, batch), batch)
    assert len(computed) == 1
    again = second(first(x, batch.clone()), batch.clone())
    assert len(computed) == 3
    torch.testing.assert_close(again, out)


def test_layers_share_the_split_and_packed_layout_of_a_mixed_batch(monkeypatch):
    """A batch with a graph over ``max_explicit_length`` nodes is split into small and
    large graphs; the layers of one forward share the split, so the small graphs'
    packed layout is computed once, not once per layer; values unchanged."""
    monkeypatch.setattr(MultiheadAttention, "native", False)  # the packed path's layout (test_native.py: the kernel)
    import graphformers.attention.packed as packed_module

    computed = []
    original = packed_module.packed_layout
    monkeypatch.setattr(packed_module, "packed_layout", lambda *a, **k: computed.append(1) or original(*a, **k))
    packed_module.batch_cache.clear()
    batch = torch.repeat_interleave(torch.arange(3), torch.tensor([5, 7, 90]))
    x = torch.randn(102, 8)
    layers = [MultiheadAttention(8, heads=2) for _ in range(3)]
    h = x
    for layer in layers:
        h = layer(h, batch)
    assert len(computed) == 1
    packed_module.batch_cache.clear()
    expected = x
    for layer in layers:
        expected = layer(expected, batch.clone())
        packed_module.batch_cache.clear()
    torch.testing.assert_close(h, expected)


@pytest.mark.parametrize(
    "settings,message",
    [({"bias": False}, "bias"), ({"add_bias_kv": True}, "add_bias_kv"), ({"add_zero_attn": True}, "add_zero_attn")],
)
def test_load_from_torch_refuses_what_it_cannot_compute(settings, message):
    torch_mha = nn.MultiheadAttention(8, 2, batch_first=True, **settings)
    with pytest.raises(ValueError, match=message):
        MultiheadAttention(8, heads=2).load_from_torch(torch_mha)
    with pytest.raises(ValueError, match="bias"):  # the other direction: ours without biases
        MultiheadAttention(8, heads=2, bias=False).load_from_torch(nn.MultiheadAttention(8, 2))


@pytest.mark.parametrize("kind", sorted(ATTENTIONS))
def test_no_nodes_give_an_empty_output(kind):
    """An empty mini-batch (zero nodes) passes through every attention, with and
    without a batch vector, and backpropagates."""
    attn = ATTENTIONS[kind]()
    x = torch.zeros(0, attn.channels, requires_grad=True)
    for batch in (torch.zeros(0, dtype=torch.long), None):
        out = attn(x, batch)
        assert out.shape == (0, attn.channels)
    out.sum().backward()
    assert x.grad.shape == x.shape


def test_packed_attention_with_no_nodes():
    from graphformers.attention.packed import packed_softmax_attention

    qkv = torch.zeros(0, 24, requires_grad=True)
    out = packed_softmax_attention(qkv, torch.zeros(0, dtype=torch.long), heads=2)
    assert out.shape == (0, 8)
    out.sum().backward()
    assert qkv.grad.shape == qkv.shape


def test_score_bound_applies_to_the_bucketed_buffers(monkeypatch):
    """``max_score_elements`` bounds the packed path's bucketed score buffer
    (``H * sum_k B_k L_k^2``), not ``B * H * L^2``: 20 graphs of 2 nodes and one of 10,
    2 heads, take 2 * (20 * 4 + 100) = 360 entries in two buckets against 4,200 padded
    to 10; above the bound the padded path runs, with the same values."""
    monkeypatch.setattr(MultiheadAttention, "native", False)  # the packed path's layout (test_native.py: the kernel)
    import graphformers.attention.full as full_module
    import graphformers.attention.packed as packed_module

    monkeypatch.setattr(packed_module, "BUCKET_OVERHEAD_SCORES", 1)
    calls = []
    original = full_module.packed_softmax_attention
    monkeypatch.setattr(full_module, "packed_softmax_attention", lambda *a, **k: calls.append(1) or original(*a, **k))
    batch = torch.cat([torch.arange(20).repeat_interleave(2), torch.full((10,), 20)])
    x = torch.randn(batch.numel(), 8)
    attn = MultiheadAttention(8, heads=2).eval()
    attn.max_score_elements = 360
    packed_out = attn(x, batch)
    assert calls == [1]
    attn.max_score_elements = 359
    padded_out = attn(x, batch)
    assert calls == [1]
    torch.testing.assert_close(packed_out, padded_out)
