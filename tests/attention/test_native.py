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


@needs_kernel
def test_module_dropout_uses_the_documented_mask():
    """MultiheadAttention(dropout=p) in training: the kernel's seeded keep mask, reproduced,
    gives the module's output through in_proj and out_proj."""
    heads, C, p = 2, 32, 0.25
    sizes = [4, 9, 1, 20]
    batch = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))
    attn = MultiheadAttention(C, heads=heads, dropout=p).train()
    x = torch.randn(batch.numel(), C)
    torch.manual_seed(3)
    out = attn(x, batch)
    torch.manual_seed(3)
    keep = torch.empty(heads * sum(n * n for n in sizes)).bernoulli_(1 - p).div_(1 - p)
    with torch.no_grad():
        expected = attn.out_proj(reference(attn.in_proj(x), sizes, heads, keep).float())
    torch.testing.assert_close(out.detach(), expected, atol=2e-6, rtol=1e-5)


@needs_kernel
def test_non_contiguous_inputs_and_gradients():
    """A strided qkv (a column slice) and a stride-0 output gradient (``out.sum().backward()``)
    give the values and gradients of their contiguous copies."""
    counts = torch.tensor([7, 1, 18])
    wide = torch.randn(26, 96, requires_grad=True)
    qkv = wide[:, ::2]  # [26, 48], row stride 96
    assert not qkv.is_contiguous()
    native.native_softmax_attention(qkv, counts, heads=2).sum().backward()
    dense = wide.detach().clone().requires_grad_()
    native.native_softmax_attention(dense[:, ::2].contiguous(), counts, heads=2).sum().backward()
    torch.testing.assert_close(wide.grad, dense.grad)


@needs_kernel
def test_dropout_one_gives_zeros():
    qkv = torch.randn(5, 24, requires_grad=True)
    out = native.native_softmax_attention(qkv, torch.tensor([2, 3]), heads=2, dropout_p=1.0)
    assert torch.equal(out, torch.zeros_like(out))
    out.sum().backward()
    assert torch.isfinite(qkv.grad).all()


@needs_kernel
def test_counts_that_wrap_around_are_refused():
    """Counts whose int64 sum wraps to N would send the kernel far outside qkv."""
    big = 2**63 - 1
    with pytest.raises(ValueError, match="do not describe"):
        native.native_softmax_attention(torch.randn(2, 24), torch.tensor([big, big, 4]), heads=2)
    with pytest.raises(ValueError, match="heads must be positive"):
        native.native_softmax_attention(torch.randn(2, 24), torch.tensor([2]), heads=0)
    with pytest.raises(ValueError, match="no graphs"):
        native.native_softmax_attention(torch.randn(2, 24), torch.tensor([], dtype=torch.long), heads=2)


@needs_kernel
def test_backward_uses_the_forward_build(monkeypatch):
    """Switching the kernel off between forward and backward does not break the backward."""
    qkv = torch.randn(6, 24, requires_grad=True)
    out = native.native_softmax_attention(qkv, torch.tensor([3, 3]), heads=2)
    monkeypatch.setenv("GRAPHFORMERS_NATIVE", "0")
    out.sum().backward()
    assert qkv.grad is not None and torch.isfinite(qkv.grad).all()


def test_openmp_runtime_lookup_skips_deleted_mappings(monkeypatch, tmp_path):
    """The runtime is read from /proc/self/maps: a '(deleted)' mapping is not a path to link."""
    import builtins

    maps = tmp_path / "maps"
    maps.write_text(
        "7f00-7f01 r-xp 00000000 08:01 1 /opt/torch/lib/libgomp.so.1\n"
        "7f02-7f03 r-xp 00000000 08:01 2 /tmp/old/libgomp.so.1 (deleted)\n"
        "7f04-7f05 r-xp 00000000 00:00 0 [heap]\n"
    )
    real_open = builtins.open
    monkeypatch.setattr(builtins, "open", lambda f, *a, **k: real_open(maps if f == "/proc/self/maps" else f, *a, **k))
    assert native.torch_openmp_runtime() == "/opt/torch/lib/libgomp.so.1"


@needs_kernel
def test_build_flags_follow_compiler_and_cpu(monkeypatch, tmp_path):
    """CC may carry arguments; without readable CPU flags there is no -march=native (the
    cache key could not tell CPUs apart); with torch's GNU OpenMP the object links it."""
    compiler = native.find_compiler()
    commands = []
    real_run = native.subprocess.run
    monkeypatch.setattr(native.subprocess, "run", lambda cmd, **k: commands.append(cmd) or real_run(cmd, **k))
    monkeypatch.setattr(native, "_cpu_signature", lambda: "")
    path = native.build(cache_dir=tmp_path, compiler=f"{compiler} -Wall")
    compile_cmd = next(c for c in commands if "-c" in c)
    assert compile_cmd[:2] == [compiler, "-Wall"] and "-march=native" not in compile_cmd
    runtime = native.torch_openmp_runtime()
    if runtime and not native._is_clang([compiler]):
        link_cmd = next(c for c in commands if "-shared" in c)
        assert "-fopenmp" in compile_cmd and link_cmd[-1] == runtime
    assert native.load(path).gf_attention_abi() == native.ABI


def test_single_threaded_build_used_only_with_few_threads(monkeypatch):
    """A build without OpenMP (Clang, or no GNU runtime in torch) runs on one thread: it is
    preferred to the packed path only while torch uses at most two threads."""
    import types

    monkeypatch.setattr(native, "library", lambda: types.SimpleNamespace(openmp=False))
    qkv = torch.randn(4, 24)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(native.SINGLE_THREAD_MAX_THREADS)
        assert native.supports(qkv)
        torch.set_num_threads(native.SINGLE_THREAD_MAX_THREADS + 1)
        assert not native.supports(qkv)
        monkeypatch.setattr(native, "library", lambda: types.SimpleNamespace(openmp=True))
        assert native.supports(qkv)
    finally:
        torch.set_num_threads(threads)


def test_concurrent_first_use_builds_once(monkeypatch, tmp_path):
    """Threads asking for the kernel at once share one build; with warnings turned into errors a
    failed build raises once and is not retried on every call."""
    import threading as th

    builds = []
    real_build = native.build
    monkeypatch.setattr(native, "build", lambda: builds.append(1) or real_build(cache_dir=tmp_path))
    native.reset()
    try:
        workers = [th.Thread(target=native.library) for _ in range(6)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        assert len(builds) == 1
        native.reset()
        builds.clear()
        monkeypatch.setenv("CC", "false")
        monkeypatch.setattr(native, "build", lambda: builds.append(1) or real_build(cache_dir=tmp_path / "bad"))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with pytest.raises(RuntimeWarning):
                native.library()
            assert native.library() is None
        assert len(builds) == 1
    finally:
        native.reset()


def test_abandoned_build_folders_are_removed(tmp_path):
    import os
    import time

    old, fresh = tmp_path / ".build-old", tmp_path / ".build-fresh"
    old.mkdir()
    fresh.mkdir()
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    native._remove_abandoned_builds(tmp_path)
    assert not old.exists() and fresh.exists()
