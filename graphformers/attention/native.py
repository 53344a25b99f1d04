r"""Softmax attention over many small graphs in a compiled CPU kernel (optional).

:func:`native_softmax_attention` computes, for every graph of a batch and every
head, the same function as :func:`~graphformers.attention.packed.packed_softmax_attention`,

.. math::
    O = \mathrm{softmax}\Big(\frac{Q K^\top}{\sqrt{D}}\Big) V,

with its backward written out (see ``csrc/small_graph_attention.c``). The kernel
works on the flat ``[N, 3, H, D]`` projections in place: per graph and head it
copies the graph's rows into a small scratch buffer, so no padded ``[B, H, L, L]``
or gathered ``[3, B, H, L, D]`` tensor is ever made, and the only tensors written
are the output, the attention weights kept for the backward (``H * sum_b n_b^2``
values) and the gradient. Graphs are shared among the threads of torch's own
OpenMP runtime (the library links against the ``libgomp`` torch has loaded, so
there is one thread pool, not two competing ones).

The C source ships with the package and is compiled on first use with the
system's C compiler (``$CC``, else ``cc``, ``gcc`` or ``clang``) into
``$GRAPHFORMERS_CACHE/native`` (about half a second), keyed by the source, the
flags and the CPU (it is built with ``-march=native``); the build is written
atomically, so concurrent processes may build at once. Where no compiler is found,
the build fails, the platform is not Linux, or ``GRAPHFORMERS_NATIVE=0`` is set,
:func:`library` returns ``None`` (with one warning if a build failed) and
:class:`~graphformers.attention.full.MultiheadAttention` uses the pure-PyTorch
packed path: same values to float rounding. Used for ``float32`` CPU tensors only.

Dropout on the attention weights draws one Bernoulli mask over the ``H * sum_b
n_b^2`` weights (graph-major, then head, then row): the same distribution as
``F.dropout`` on each graph's weights, other draws than the padded paths make.
Double backward is not supported (``once_differentiable``).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

import torch
from torch import Tensor
from torch.autograd.function import FunctionCtx, once_differentiable

from graphformers.attention.packed import _LOG2E, dropout_keep
from graphformers.settings import cache_root

#: set to ``0`` to never build or use the compiled kernel
NATIVE_ENV = "GRAPHFORMERS_NATIVE"
SOURCE = Path(__file__).with_name("csrc") / "small_graph_attention.c"
#: the value ``gf_attention_abi()`` of a matching build returns
ABI = 1
_UNSET = object()
_library: object = _UNSET
_library_lock = threading.Lock()


class NativeBuildError(RuntimeError):
    """The C compiler failed; the message holds its command and output."""


def enabled() -> bool:
    """Whether the environment allows the compiled kernel (``GRAPHFORMERS_NATIVE`` not ``0``)."""
    return os.environ.get(NATIVE_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def find_compiler() -> str | None:
    """``$CC`` if set (it may hold arguments, e.g. ``ccache gcc``), else the first of
    ``cc``, ``gcc``, ``clang`` on the ``PATH``."""
    if os.environ.get("CC", "").strip():
        return os.environ["CC"]
    for name in ("cc", "gcc", "clang"):
        path = shutil.which(name)
        if path:
            return path
    return None


def torch_openmp_runtime() -> str | None:
    """Path of the GNU OpenMP runtime torch has loaded into this process (Linux), if one."""
    paths = set()
    try:
        with open("/proc/self/maps", encoding="utf-8") as maps:
            for line in maps:
                fields = line.split(maxsplit=5)  # address perms offset dev inode path
                path = fields[5].strip() if len(fields) == 6 else ""
                if path.startswith("/") and "libgomp" in os.path.basename(path) and not path.endswith("(deleted)"):
                    paths.add(path)
    except OSError:
        return None
    return paths.pop() if len(paths) == 1 else None  # none, or two runtimes: build without OpenMP


def _is_clang(compiler: list[str]) -> bool:
    """Whether the compiler is Clang (its ``-fopenmp`` calls LLVM's runtime, not the GNU one torch loads)."""
    try:
        done = subprocess.run([*compiler, "--version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "clang" in done.stdout.lower()


def _cpu_signature() -> str:
    """The CPU's instruction-set flags (first ``flags``/``Features`` line of
    ``/proc/cpuinfo``), ``""`` where they cannot be read."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            return next((line.strip() for line in info if line.startswith(("flags", "Features"))), "")
    except OSError:
        return ""


def build(cache_dir: Path | None = None, compiler: str | None = None, openmp: str | None = None) -> Path:
    """Compile ``SOURCE`` into a shared library (or find the earlier build) and return its path.

    Args:
        cache_dir: where builds go (default ``$GRAPHFORMERS_CACHE/native``).
        compiler: C compiler (default :func:`find_compiler`).
        openmp: the OpenMP runtime to link against (default :func:`torch_openmp_runtime`);
            without one the kernel runs on one thread.

    Raises:
        NativeBuildError: no compiler, or it failed (its output in the message).
    """
    compiler = compiler or find_compiler()
    if compiler is None:
        raise NativeBuildError("no C compiler found (set CC, or install cc/gcc/clang)")
    cc = shlex.split(compiler)
    openmp = torch_openmp_runtime() if openmp is None else openmp
    if openmp and _is_clang(cc):
        openmp = ""  # Clang's -fopenmp would need LLVM's runtime: one thread rather than two pools
    cpu = _cpu_signature()
    # -march=native only where the cache key can name the CPU (a cache shared between
    # machines must not hand one CPU's instructions to another)
    cflags = ["-O3", "-std=gnu11", "-fPIC"] + (["-march=native"] if cpu else []) + (["-fopenmp"] if openmp else [])
    source = SOURCE.read_bytes()
    key = hashlib.sha256(
        b"\0".join([source, " ".join(cflags).encode(), compiler.encode(), (openmp or "").encode(),
                    cpu.encode(), platform.machine().encode(), str(ABI).encode()])
    ).hexdigest()[:16]
    cache_dir = Path(cache_dir) if cache_dir is not None else cache_root() / "native"
    target = cache_dir / f"small_graph_attention-{key}.so"
    if target.is_file():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    _remove_abandoned_builds(cache_dir)
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".build-") as tmp:
        obj, lib = Path(tmp) / "kernel.o", Path(tmp) / target.name
        # compile and link apart: linking with -fopenmp would add the system's libgomp;
        # linking the runtime torch loaded makes the kernel share torch's thread pool
        steps = [[*cc, *cflags, "-c", str(SOURCE), "-o", str(obj)],
                 [*cc, "-shared", str(obj), "-o", str(lib)] + ([openmp] if openmp else [])]
        for cmd in steps:
            try:
                done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise NativeBuildError(f"{' '.join(cmd)}: {exc}") from exc
            if done.returncode != 0:
                raise NativeBuildError(f"{' '.join(cmd)} exited with {done.returncode}:\n{done.stderr.strip()}")
        os.replace(lib, target)  # atomic: a concurrent build leaves the same file
    return target


def _remove_abandoned_builds(cache_dir: Path, age_s: float = 3600.0) -> None:
    """Delete ``.build-*`` folders a killed build left (older than ``age_s``; a build takes
    about a second, so a younger one may belong to a process building right now)."""
    now = time.time()
    for folder in cache_dir.glob(".build-*"):
        try:
            if now - folder.stat().st_mtime > age_s:
                shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            pass


def load(path: Path) -> ctypes.CDLL:
    """Load a build and declare its functions; raises ``OSError``/``RuntimeError`` if it does not match."""
    lib = ctypes.CDLL(str(path))
    if lib.gf_attention_abi() != ABI:
        raise RuntimeError(f"{path}: ABI {lib.gf_attention_abi()} != {ABI}")
    p, i, f = ctypes.c_void_p, ctypes.c_int64, ctypes.c_float
    lib.gf_attention_forward.argtypes = [p, p, p, i, i, i, i, f, p, p, p, i, ctypes.c_int]
    lib.gf_attention_backward.argtypes = [p, p, p, p, p, p, p, i, i, i, i, f, p, i, ctypes.c_int]
    lib.openmp = bool(lib.gf_attention_openmp())  # type: ignore[attr-defined]
    return lib


def library() -> ctypes.CDLL | None:
    """The compiled kernel, built on first use; ``None`` where it is disabled or
    unavailable (a failed build warns once, then the pure-PyTorch path is used)."""
    global _library
    if not enabled() or not sys.platform.startswith("linux"):
        return None
    if _library is _UNSET:
        with _library_lock:  # one build per process, whichever thread asks first
            if _library is _UNSET:
                try:
                    _library = load(build())
                except (NativeBuildError, OSError, RuntimeError) as exc:
                    _library = None  # before warning: with warnings as errors, no rebuild per call
                    warnings.warn(f"graphformers: the compiled attention kernel is not available, "
                                  f"using the PyTorch path ({exc})", RuntimeWarning, stacklevel=2)
    return _library  # type: ignore[return-value]


def reset() -> None:
    """Forget the loaded kernel (tests; a later :func:`library` builds or loads again)."""
    global _library
    _library = _UNSET


#: without OpenMP (Clang, or no GNU runtime in torch) the kernel runs on one thread; it is
#: used then only up to this many torch threads (at 2 it measured 4.4 ms against the packed
#: PyTorch path's 5.0 ms; with more cores the threaded PyTorch path may win)
SINGLE_THREAD_MAX_THREADS = 2


def supports(qkv: Tensor) -> bool:
    """Whether :func:`native_softmax_attention` should run on ``qkv`` here: float32 on the
    CPU, the kernel available, and threaded by OpenMP unless torch uses at most
    :data:`SINGLE_THREAD_MAX_THREADS` threads."""
    if qkv.dtype != torch.float32 or qkv.device.type != "cpu":
        return False
    lib = library()
    return lib is not None and (lib.openmp or torch.get_num_threads() <= SINGLE_THREAD_MAX_THREADS)


def graph_offsets(counts: Tensor, heads: int) -> tuple[Tensor, Tensor]:
    """``(ptr [B+1], woff [B+1])``: first node of every graph and first attention weight
    of every graph (``heads * n_b^2`` each), both ``int64``, as the kernel reads them."""
    counts = counts.to(torch.long)
    ptr = counts.new_zeros(counts.numel() + 1)
    torch.cumsum(counts, 0, out=ptr[1:])
    woff = counts.new_zeros(counts.numel() + 1)
    torch.cumsum(counts * counts * heads, 0, out=woff[1:])
    return ptr, woff


class _NativeSoftmaxAttention(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        ctx: FunctionCtx, qkv: Tensor, ptr: Tensor, woff: Tensor, max_nodes: int, heads: int, dropout_p: float
    ) -> Tensor:
        lib = library()
        assert lib is not None
        N, H = qkv.size(0), heads
        D = qkv.size(1) // (3 * H)
        qkv = qkv.contiguous()
        out = qkv.new_empty(N, H * D)
        weights = qkv.new_empty(int(woff[-1]))
        keep = None
        if dropout_p > 0.0:
            keep = dropout_keep(torch.empty_like(weights), dropout_p)
        status = lib.gf_attention_forward(
            qkv.data_ptr(), ptr.data_ptr(), woff.data_ptr(), 0, ptr.numel() - 1, H, D, D**-0.5 * _LOG2E,
            None if keep is None else keep.data_ptr(), out.data_ptr(), weights.data_ptr(), max_nodes,
            torch.get_num_threads(),
        )
        if status != 0:
            raise MemoryError("native_softmax_attention: the kernel could not allocate its scratch memory")
        ctx.save_for_backward(qkv, out, weights, ptr, woff, *(() if keep is None else (keep,)))
        ctx.dims = (max_nodes, H, D)  # type: ignore[attr-defined]
        ctx.lib = lib  # type: ignore[attr-defined]  # the backward runs the same build
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, grad_out: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        qkv, out, weights, ptr, woff, *keep = ctx.saved_tensors  # type: ignore[attr-defined]
        max_nodes, H, D = ctx.dims  # type: ignore[attr-defined]
        lib = ctx.lib  # type: ignore[attr-defined]
        grad_out = grad_out.contiguous()
        grad_qkv = torch.empty_like(qkv)
        status = lib.gf_attention_backward(
            qkv.data_ptr(), out.data_ptr(), grad_out.data_ptr(), weights.data_ptr(),
            keep[0].data_ptr() if keep else None, ptr.data_ptr(), woff.data_ptr(), 0, ptr.numel() - 1, H, D,
            D**-0.5, grad_qkv.data_ptr(), max_nodes, torch.get_num_threads(),
        )
        if status != 0:
            raise MemoryError("native_softmax_attention: the kernel could not allocate its scratch memory")
        return grad_qkv, None, None, None, None, None


def native_softmax_attention(
    qkv: Tensor, counts: Tensor, heads: int, dropout_p: float = 0.0
) -> Tensor:
    """Multi-head softmax attention within each graph of a batch, in the compiled kernel.

    Args:
        qkv: ``[N, 3C]`` float32 CPU projections (``C = H * D``), node-major as
            ``in_proj`` makes them; the nodes of a graph contiguous, graphs in order.
        counts: ``[B]`` nodes per graph (``sum = N``).
        heads: ``H``.
        dropout_p: dropout probability on the attention weights (``0`` in eval).

    Returns:
        ``[N, C]`` attention output before the output projection.

    Raises:
        RuntimeError: the kernel is unavailable (check :func:`supports` first).
        ValueError: shapes that do not fit together.
    """
    if library() is None:
        raise RuntimeError("native_softmax_attention: the compiled kernel is not available")
    if heads < 1:
        raise ValueError(f"native_softmax_attention: heads must be positive, got {heads}")
    if (qkv.dtype != torch.float32 or qkv.device.type != "cpu" or qkv.dim() != 2 or qkv.size(1) == 0
            or qkv.size(1) % (3 * heads)):
        raise ValueError(f"native_softmax_attention: qkv must be float32 [N, 3 * H * D] on the CPU, got "
                         f"{qkv.dtype} {list(qkv.shape)} on {qkv.device} with H={heads}")
    if not 0.0 <= dropout_p <= 1.0:
        raise ValueError(f"native_softmax_attention: dropout_p must be in [0, 1], got {dropout_p}")
    if counts.dim() != 1:
        raise ValueError(f"native_softmax_attention: counts must be 1-D, got shape {list(counts.shape)}")
    counts = counts.to("cpu", torch.long)  # the kernel reads the offsets on the CPU
    if qkv.size(0) > 0 and counts.numel() == 0:
        raise ValueError(f"native_softmax_attention: no graphs for the {qkv.size(0)} rows of qkv")
    if qkv.size(0) == 0:
        return qkv.narrow(1, 0, qkv.size(1) // 3) * 0.0
    # the kernel trusts these: node ranges inside qkv, scratch sized by the largest graph
    smallest, largest = (int(v) for v in torch.aminmax(counts))
    ptr, woff = graph_offsets(counts, heads)
    if smallest < 0 or largest > qkv.size(0) or int(ptr[-1]) != qkv.size(0):
        raise ValueError(f"native_softmax_attention: counts (sum {int(counts.sum())}, smallest {smallest}) "
                         f"do not describe the {qkv.size(0)} rows of qkv")
    return _NativeSoftmaxAttention.apply(qkv, ptr, woff, largest, heads, dropout_p)
