"""The compiled small-graph attention kernel (graphformers.attention.native)."""

from __future__ import annotations

import copy
import warnings

import pytest
import torch
import torch.nn.functional as F

from graphformers.attention import MultiheadAttention, native

needs_kernel = pytest.mark.skipif(
    native.library() is None, reason="no compiled kernel here (no C compiler, not Linux, or GRAPHFORMERS_NATIVE=0)"
)


def reference(qkv: torch.Tensor, counts: list[int], heads: int, keep: torch.Tensor | None = None) -> torch.Tensor:
    """Per-graph softmax attention in float64 (SDPA without dropout; explicit with a keep mask)."""
    qkv = qkv.double()
    D = qkv.size(1) // (3 * heads)
    outs, start, woff = [], 0, 0
    for n in counts:
        q, k, v = qkv[start:start + n].view(n, 3, heads, D).permute(1, 2, 0, 3)  # [H, n, D] each
        if keep is None:
            outs.append(F.scaled_dot_product_attention(q, k, v).transpose(0, 1).reshape(n, heads * D))
        else:
            weights = torch.softmax(q @ k.transpose(1, 2) / D**0.5, -1)
            mask = keep[woff:woff + heads * n * n].view(heads, n, n).double()
            outs.append(((weights * mask) @ v).transpose(0, 1).reshape(n, heads * D))
        start += n
        woff += heads * n * n
    return torch.cat(outs)


SIZES = [1, 3, 16, 17, 0, 33, 64, 5, 0]


@needs_kernel
@pytest.mark.parametrize("head_channels", [8, 16, 24, 32])
def test_values_and_gradients_equal_per_graph_sdpa(head_channels):
    """Graph sizes around the kernel's 16-wide blocks (1, 16, 17, 33, 64), empty graphs,
    head widths below, at and above one block: outputs and all gradients to float rounding."""
    heads = 2
    counts = torch.tensor(SIZES)
    gen = torch.Generator().manual_seed(head_channels)
    qkv = (2 * torch.randn(int(counts.sum()), 3 * heads * head_channels, generator=gen)).requires_grad_()
    weight = torch.randn(qkv.size(0), heads * head_channels, generator=gen)
    out = native.native_softmax_attention(qkv, counts, heads)
    (out * weight).sum().backward()
    grad = qkv.grad.clone()
    qkv.grad = None
    expected = reference(qkv, SIZES, heads)
    (expected * weight.double()).sum().backward()
    torch.testing.assert_close(out.double(), expected.detach(), atol=2e-6, rtol=1e-5)
    torch.testing.assert_close(grad, qkv.grad, atol=2e-5, rtol=1e-4)


@needs_kernel
def test_dropout_mask_as_documented():
    """With dropout the kernel draws one Bernoulli keep mask over the ``H * sum n^2``
    weights (graph, head, row); reproduced by the same seeded draw, values and gradients
    equal the explicit computation with that mask."""
    heads, D, p = 2, 16, 0.3
    counts = torch.tensor(SIZES)
    total = heads * int((counts * counts).sum())
    qkv = torch.randn(int(counts.sum()), 3 * heads * D, requires_grad=True)
    weight = torch.randn(qkv.size(0), heads * D)
    torch.manual_seed(11)
    out = native.native_softmax_attention(qkv, counts, heads, dropout_p=p)
    (out * weight).sum().backward()
    grad = qkv.grad.clone()
    qkv.grad = None
    torch.manual_seed(11)
    keep = torch.empty(total).bernoulli_(1 - p).div_(1 - p)
    assert 0 < int((keep == 0).sum()) < total
    expected = reference(qkv, SIZES, heads, keep)
    (expected * weight.double()).sum().backward()
    torch.testing.assert_close(out.double(), expected.detach(), atol=2e-6, rtol=1e-5)
    torch.testing.assert_close(grad, qkv.grad, atol=2e-5, rtol=1e-4)


@needs_kernel
def test_non_finite_values_stay_in_their_graph():
    """An inf in one graph's projections makes that graph's rows NaN (as softmax does)
    and leaves every other graph's output unchanged."""
    counts = torch.tensor([3, 2, 1])
    qkv = torch.randn(6, 24)
    poisoned = qkv.clone()
    poisoned[:3] = float("inf")
    out = native.native_softmax_attention(poisoned, counts, heads=2)
    clean = native.native_softmax_attention(qkv, counts, heads=2)
    assert torch.isnan(out[:3]).all()
    assert torch.equal(out[3:], clean[3:])


@needs_kernel
def test_thread_count_does_not_change_results():
    """Graphs are independent work items: one thread and two give identical bits."""
    counts = torch.tensor([20, 7, 33, 1, 12] * 8)
    qkv = torch.randn(int(counts.sum()), 3 * 64)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = native.native_softmax_attention(qkv, counts, heads=4)
        torch.set_num_threads(2)
        two = native.native_softmax_attention(qkv, counts, heads=4)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(one, two)


@needs_kernel
@pytest.mark.parametrize("training", [False, True])
def test_multihead_attention_native_equals_packed_path(training):
    """The module takes the kernel for float32 CPU batches of small graphs and gives the
    packed path's values and gradients (inputs and every parameter)."""
    batch = torch.repeat_interleave(torch.arange(6), torch.tensor([5, 12, 1, 30, 9, 17]))
    x = torch.randn(batch.numel(), 32, requires_grad=True)
    weight = torch.randn(batch.numel(), 32)
    calls = []
    original = native.native_softmax_attention
    fast = MultiheadAttention(32, heads=4).train(training)
    slow = copy.deepcopy(fast)
    slow.native = False
    results = []
    try:
        native.native_softmax_attention = lambda *a, **k: calls.append(1) or original(*a, **k)
        for attn in (fast, slow):
            x.grad = None
            out = attn(x, batch)
            (out * weight).sum().backward()
            results.append((out.detach(), x.grad.clone(), [p.grad.clone() for p in attn.parameters()]))
    finally:
        native.native_softmax_attention = original
    assert calls == [1]  # the first module only
    (out_a, gx_a, gp_a), (out_b, gx_b, gp_b) = results
    torch.testing.assert_close(out_a, out_b, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(gx_a, gx_b, atol=1e-6, rtol=1e-5)
    for a, b in zip(gp_a, gp_b):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


@needs_kernel
def test_other_dtypes_take_the_pytorch_path():
    """float64 (and anything but float32 on the CPU) is not sent to the kernel."""
    attn = MultiheadAttention(16, heads=2).double()
    batch = torch.tensor([0, 0, 1, 1, 1])
    x = torch.randn(5, 16, dtype=torch.float64)
    assert not native.supports(x)
    out = attn(x, batch)
    assert out.dtype == torch.float64
    with pytest.raises(ValueError, match="float32"):
        native.native_softmax_attention(x.repeat(1, 3), torch.tensor([2, 3]), heads=2)


@needs_kernel
def test_bad_counts_are_refused():
    """The kernel trusts its node ranges, so counts that do not describe qkv are an error."""
    qkv = torch.randn(5, 24)
    with pytest.raises(ValueError, match="do not describe the 5 rows"):
        native.native_softmax_attention(qkv, torch.tensor([2, 2]), heads=2)
    with pytest.raises(ValueError, match="smallest -1"):
        native.native_softmax_attention(qkv, torch.tensor([6, -1]), heads=2)


@needs_kernel
def test_build_is_cached_and_atomic(tmp_path):
    """A second build finds the first (nothing recompiled) and leaves no temporary files."""
    first = native.build(cache_dir=tmp_path)
    stamp = first.stat().st_mtime_ns
    second = native.build(cache_dir=tmp_path)
    assert second == first and second.stat().st_mtime_ns == stamp
    assert [p.name for p in tmp_path.iterdir()] == [first.name]
    assert native.load(first).gf_attention_abi() == native.ABI


def test_failed_build_warns_once_and_falls_back(monkeypatch, tmp_path):
    """A compiler that fails: one RuntimeWarning naming it, then the PyTorch path."""
    monkeypatch.setenv("GRAPHFORMERS_CACHE", str(tmp_path))
    monkeypatch.setenv("CC", "false")
    native.reset()
    try:
        with pytest.warns(RuntimeWarning, match="false .*exited with"):
            assert native.library() is None
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert native.library() is None  # no second warning
            out = MultiheadAttention(8, heads=2)(torch.randn(4, 8), torch.tensor([0, 0, 1, 1]))
        assert out.shape == (4, 8)
    finally:
        native.reset()


def test_environment_switch_disables_the_kernel(monkeypatch):
    monkeypatch.setenv("GRAPHFORMERS_NATIVE", "0")
    assert native.library() is None
    assert not native.supports(torch.randn(2, 6))


def test_build_without_compiler_names_the_cause(monkeypatch, tmp_path):
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.setattr(native.shutil, "which", lambda name: None)
    with pytest.raises(native.NativeBuildError, match="no C compiler found"):
        native.build(cache_dir=tmp_path)
