"""Images as graphs: the pixel grid (one relation per kernel offset) and the ViT patch graph.

Two graph views of an image ``[C, H, W]``:

* **pixel grid** -- one node per pixel (row-major id ``y * W + x``, features
  ``x[y * W + x] = image[:, y, x]``) and, for a ``k x k`` kernel, an edge
  ``src -> dst`` whenever pixel ``src`` sits at kernel offset ``(ky, kx)`` of
  output pixel ``dst``; its relation id is ``edge_type = ky * k + kx``. With
  :class:`~graphformers.local.grid_conv.RelationalGridConv` (one weight per
  relation, sum aggregation) this *is* ``torch.nn.Conv2d``; zero padding is
  simply a missing edge. Strided convolutions map the input grid onto a
  smaller output grid, a bipartite graph (:func:`grid_edges`).
* **patch graph** -- one node per ``p x p`` patch (features: the patch's
  pixels flattened in ``(c, py, px)`` order, the order of a ``Conv2d``
  patch-embedding weight), optionally a class-token node first, and the
  complete graph over all nodes (Dosovitskiy et al., 2021).

Edges are ordered destination-major (by ``dst``, then relation), so a batch of
graphs built at once equals :meth:`Batch.from_data_list` of the single graphs.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.transforms import BaseTransform

from graphformers.transforms.sequence import complete_edge_index

__all__ = [
    "ImageToGridGraph",
    "ImageToPatchGraph",
    "coarsen_grid",
    "grid_edges",
    "grid_edges_from_pos",
    "image_to_grid_graph",
    "image_to_patch_graph",
    "images_to_grid_graphs",
    "images_to_patch_graphs",
    "sincos_2d_encoding",
]


def _check_kernel(kernel_size: int, stride: int, dilation: int) -> None:
    for name, value in (("kernel_size", kernel_size), ("stride", stride), ("dilation", dilation)):
        if int(value) < 1:
            raise ValueError(f"{name} must be a positive integer, got {value}")


def _check_images(images: Tensor, dims: int, name: str) -> None:
    if not isinstance(images, Tensor) or images.dim() != dims:
        shape = "[C, H, W]" if dims == 3 else "[B, C, H, W]"
        got = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
        raise ValueError(f"'{name}' must be a tensor of shape {shape}, got {got}")


def _offset_edges(
    table: Tensor, dst_pos: Tensor, dst_batch: Tensor, kernel_size: int, stride: int, dilation: int, padding: int
) -> tuple[Tensor, Tensor]:
    """Edges from the source pixels in ``table`` to the destination pixels at ``dst_pos``.

    Args:
        table: ``[B, H, W]`` long, the node id of source pixel ``(b, y, x)`` or -1.
        dst_pos: ``[M, 2]`` long ``(y, x)`` of destination node ``m`` (ids ``0..M-1``).
        dst_batch: ``[M]`` image of each destination node.

    Returns:
        ``edge_index [2, E]`` (destination-major) and ``edge_type [E]`` (``ky * k + kx``),
        on the device of ``dst_pos``.
    """
    k = kernel_size
    device = dst_pos.device
    ky, kx = torch.meshgrid(torch.arange(k, device=device), torch.arange(k, device=device), indexing="ij")
    off = torch.stack([ky.reshape(-1), kx.reshape(-1)], dim=1) * dilation - padding  # [R, 2]
    src_pos = dst_pos.unsqueeze(1) * stride + off.unsqueeze(0)  # [M, R, 2]
    H, W = table.shape[1:]
    inside = (src_pos[..., 0] >= 0) & (src_pos[..., 0] < H) & (src_pos[..., 1] >= 0) & (src_pos[..., 1] < W)
    y = src_pos[..., 0].clamp(0, max(H - 1, 0))
    x = src_pos[..., 1].clamp(0, max(W - 1, 0))
    src = table[dst_batch.unsqueeze(1).expand_as(y), y, x]  # [M, R]
    valid = inside & (src >= 0)
    dst = torch.arange(dst_pos.size(0), device=device).unsqueeze(1).expand_as(src)
    rel = torch.arange(k * k, device=device).unsqueeze(0).expand_as(src)
    return torch.stack([src[valid], dst[valid]]), rel[valid]


def _grid_pos(height: int, width: int) -> Tensor:
    ys, xs = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    return torch.stack([ys.reshape(-1), xs.reshape(-1)], dim=1)


def grid_edges(
    height: int,
    width: int,
    *,
    kernel_size: int = 3,
    stride: int = 1,
    dilation: int = 1,
    padding: int | None = None,
) -> tuple[Tensor, Tensor, tuple[int, int]]:
    r"""The edges that make a relational conv on an ``height x width`` grid a ``Conv2d``.

    Output pixel ``(oy, ox)`` (node ``oy * W_out + ox`` of the output grid)
    receives from input pixel ``(oy s + ky d - p, ox s + kx d - p)`` with
    relation ``ky k + kx``, the cross-correlation of ``torch.nn.Conv2d``.

    Args:
        height: input grid height ``H``.
        width: input grid width ``W``.
        kernel_size: ``k`` (``k * k`` relations).
        stride: ``s``; for ``s > 1`` the graph is bipartite (input grid -> output grid).
        dilation: ``d``.
        padding: ``p`` (default: ``d (k - 1) / 2``, the "same" padding for odd ``k``).

    Returns:
        ``edge_index [2, E]`` (row 0 indexes input pixels, row 1 output pixels),
        ``edge_type [E]`` and the output grid size ``(H_out, W_out)``.
    """
    _check_kernel(kernel_size, stride, dilation)
    if height < 1 or width < 1:
        raise ValueError(f"grid size must be positive, got height={height}, width={width}")
    pad = dilation * (kernel_size - 1) // 2 if padding is None else int(padding)
    h_out = (height + 2 * pad - dilation * (kernel_size - 1) - 1) // stride + 1
    w_out = (width + 2 * pad - dilation * (kernel_size - 1) - 1) // stride + 1
    if h_out < 1 or w_out < 1:
        raise ValueError(f"kernel_size={kernel_size}, dilation={dilation} does not fit a {height}x{width} grid")
    table = torch.arange(height * width).view(1, height, width)
    dst_pos = _grid_pos(h_out, w_out)
    edge_index, edge_type = _offset_edges(
        table, dst_pos, torch.zeros(dst_pos.size(0), dtype=torch.long), kernel_size, stride, dilation, pad
    )
    return edge_index, edge_type, (h_out, w_out)


def grid_edges_from_pos(
    pos: Tensor, batch: Tensor | None = None, *, kernel_size: int = 3, dilation: int = 1
) -> tuple[Tensor, Tensor]:
    """Same-padding, stride-1 grid edges among arbitrary pixels given by integer positions.

    Builds the relation-per-offset graph of any set of pixels (several images
    via ``batch``, images of different sizes, coarsened grids): node ``j``
    sends to node ``i`` with relation ``ky k + kx`` when
    ``pos[j] = pos[i] + (ky, kx) d - p`` in the same image.

    Args:
        pos: ``[N, 2]`` integer ``(y, x)`` positions, unique per image.
        batch: ``[N]`` image index (default: one image).

    Returns:
        ``edge_index [2, E]`` (destination-major) and ``edge_type [E]``, on the device of ``pos``.
    """
    _check_kernel(kernel_size, 1, dilation)
    if pos.dim() != 2 or pos.size(1) != 2:
        raise ValueError(f"'pos' must have shape [N, 2], got {tuple(pos.shape)}")
    pos = pos.long()
    if pos.numel() and int(pos.min()) < 0:
        raise ValueError("'pos' must hold non-negative grid coordinates")
    if batch is None:
        batch = torch.zeros(pos.size(0), dtype=torch.long, device=pos.device)
    if pos.size(0) == 0:
        long = {"dtype": torch.long, "device": pos.device}
        return torch.empty(2, 0, **long), torch.empty(0, **long)
    num_images = int(batch.max()) + 1
    H, W = int(pos[:, 0].max()) + 1, int(pos[:, 1].max()) + 1
    table = torch.full((num_images, H, W), -1, dtype=torch.long, device=pos.device)
    table[batch, pos[:, 0], pos[:, 1]] = torch.arange(pos.size(0), device=pos.device)
    pad = dilation * (kernel_size - 1) // 2
    return _offset_edges(table, pos, batch, kernel_size, 1, dilation, pad)


def coarsen_grid(pos: Tensor, batch: Tensor | None = None, factor: int = 2) -> tuple[Tensor, Tensor, Tensor]:
    """Cluster pixels into ``factor x factor`` cells (the pooling window of ``MaxPool2d``).

    Cells at the border may be partial, as with ``MaxPool2d(ceil_mode=True)``.
    Coarse nodes are ordered by image, then row-major, like a fresh grid.

    Returns:
        ``cluster [N]`` (coarse node of each pixel), coarse ``pos [N', 2]`` and ``batch [N']``.
    """
    if factor < 1:
        raise ValueError(f"factor must be a positive integer, got {factor}")
    if batch is None:
        batch = torch.zeros(pos.size(0), dtype=torch.long, device=pos.device)
    cpos = torch.div(pos.long(), factor, rounding_mode="floor")
    H, W = int(cpos[:, 0].max()) + 1, int(cpos[:, 1].max()) + 1
    key = (batch * H + cpos[:, 0]) * W + cpos[:, 1]
    uniq, cluster = torch.unique(key, sorted=True, return_inverse=True)
    coarse_pos = torch.stack([torch.div(uniq, W, rounding_mode="floor") % H, uniq % W], dim=1)
    return cluster, coarse_pos, torch.div(uniq, H * W, rounding_mode="floor")


def image_to_grid_graph(image: Tensor, *, kernel_size: int = 3, dilation: int = 1) -> Data:
    """One image ``[C, H, W]`` -> pixel-grid :class:`Data` (stride 1, same padding).

    Returns ``Data(x [H W, C], edge_index, edge_type, pos [H W, 2] (y, x), height, width)``.
    """
    _check_images(image, 3, "image")
    C, H, W = image.shape
    edge_index, edge_type, _ = grid_edges(H, W, kernel_size=kernel_size, dilation=dilation)
    x = image.reshape(C, H * W).t()
    return Data(x=x, edge_index=edge_index, edge_type=edge_type, pos=_grid_pos(H, W), height=H, width=W)


def images_to_grid_graphs(images: Tensor, *, kernel_size: int = 3, dilation: int = 1) -> Data:
    """A stack ``[B, C, H, W]`` -> one batched pixel-grid graph (with ``batch`` and ``ptr``).

    Equal to ``Batch.from_data_list([image_to_grid_graph(img) for img in images])``
    (same node, edge and relation order), built without a Python loop.
    """
    _check_images(images, 4, "images")
    B, C, H, W = images.shape
    edge_index, edge_type, _ = grid_edges(H, W, kernel_size=kernel_size, dilation=dilation)
    n, e = H * W, edge_index.size(1)
    offsets = (torch.arange(B) * n).repeat_interleave(e)
    dev = images.device  # index tensors are built on the CPU and put where the pixels are
    return Data(
        x=images.reshape(B, C, n).transpose(1, 2).reshape(B * n, C),
        edge_index=(edge_index.repeat(1, B) + offsets).to(dev),
        edge_type=edge_type.repeat(B).to(dev),
        pos=_grid_pos(H, W).repeat(B, 1).to(dev),
        batch=torch.arange(B).repeat_interleave(n).to(dev),
        ptr=(torch.arange(B + 1) * n).to(dev),
        num_nodes=B * n,
    )


def _patchify(images: Tensor, patch_size: int) -> Tensor:
    """``[B, C, H, W]`` -> ``[B, P, C p p]`` (patches row-major, features in ``(c, py, px)`` order)."""
    B, C, H, W = images.shape
    p = patch_size
    if p < 1 or H % p or W % p:
        raise ValueError(f"patch_size={p} must divide the image size {H}x{W}")
    patches = images.reshape(B, C, H // p, p, W // p, p)  # (B, C, Hp, py, Wp, px)
    return patches.permute(0, 2, 4, 1, 3, 5).reshape(B, (H // p) * (W // p), C * p * p)


def _patch_pos(grid_h: int, grid_w: int, class_token: bool) -> tuple[Tensor, Tensor, Tensor]:
    """Per node: ``position`` index, 2-D ``pos`` (class token: -1) and ``class_mask``."""
    pos = _grid_pos(grid_h, grid_w)
    num = grid_h * grid_w + int(class_token)
    if class_token:
        pos = torch.cat([torch.full((1, 2), -1, dtype=torch.long), pos])
    cls = torch.zeros(num, dtype=torch.bool)
    cls[0] = class_token
    return torch.arange(num), pos, cls


def image_to_patch_graph(image: Tensor, patch_size: int, *, class_token: bool = True) -> Data:
    """One image ``[C, H, W]`` -> the complete graph over its patches (ViT tokens).

    Returns ``Data(x [L, C p p], edge_index [2, L^2], position [L], pos [L, 2],
    class_mask [L], grid_size)`` with ``L = H W / p^2 (+1)``. The class token
    is node 0 with zero features, ``position`` 0, ``pos`` ``(-1, -1)``.
    """
    _check_images(image, 3, "image")
    data = images_to_patch_graphs(image.unsqueeze(0), patch_size, class_token=class_token)
    del data.batch, data.ptr
    return data


def images_to_patch_graphs(images: Tensor, patch_size: int, *, class_token: bool = True) -> Data:
    """A stack ``[B, C, H, W]`` -> one batched patch graph (``batch``, ``ptr`` included).

    Equal to ``Batch.from_data_list([image_to_patch_graph(img, ...) for img in images])``.
    """
    _check_images(images, 4, "images")
    B, C, H, W = images.shape
    tokens = _patchify(images, patch_size)  # [B, P, C p p]
    if class_token:
        tokens = torch.cat([tokens.new_zeros(B, 1, tokens.size(-1)), tokens], dim=1)
    L = tokens.size(1)
    grid = (H // patch_size, W // patch_size)
    position, pos, cls = _patch_pos(*grid, class_token)
    edge_index = complete_edge_index(L)
    dev = images.device  # index tensors are built on the CPU and put where the pixels are
    data = Data(
        x=tokens.reshape(B * L, -1),
        edge_index=(edge_index.repeat(1, B) + (torch.arange(B) * L).repeat_interleave(edge_index.size(1))).to(dev),
        position=position.repeat(B).to(dev),
        pos=pos.repeat(B, 1).to(dev),
        class_mask=cls.repeat(B).to(dev),
        grid_size=grid,
        batch=torch.arange(B).repeat_interleave(L).to(dev),
        ptr=(torch.arange(B + 1) * L).to(dev),
        num_nodes=B * L,
    )
    return data


def sincos_2d_encoding(pos: Tensor, channels: int, *, base: float = 10000.0) -> Tensor:
    r"""Fixed 2-D sine-cosine encoding of ``(row, col)`` positions (MAE / "simple ViT").

    The first ``C / 2`` channels encode the row, the rest the column, each with
    the 1-D Transformer encoding
    :func:`~graphformers.transforms.sequence.sinusoidal_encoding`. Rows with a
    negative coordinate (the class token) get zeros.

    Args:
        pos: ``[N, 2]`` positions.
        channels: ``C``, divisible by 4.

    Returns:
        ``[N, C]``.
    """
    from graphformers.transforms.sequence import sinusoidal_encoding

    if channels % 4:
        raise ValueError(f"channels must be divisible by 4 for a 2-D sine-cosine encoding, got {channels}")
    enc = torch.cat(
        [sinusoidal_encoding(pos[:, 0], channels // 2, base=base), sinusoidal_encoding(pos[:, 1], channels // 2, base=base)],
        dim=-1,
    )
    return enc.masked_fill((pos < 0).any(dim=-1, keepdim=True), 0.0)


class ImageToGridGraph(BaseTransform):
    """Transform: ``data.image [C, H, W]`` -> pixel-grid graph (other attributes, e.g. ``y``, kept).

    Args:
        kernel_size: ``k`` (``k * k`` offset relations).
        dilation: kernel dilation.
    """

    def __init__(self, kernel_size: int = 3, dilation: int = 1) -> None:
        _check_kernel(kernel_size, 1, dilation)
        self.kernel_size = kernel_size
        self.dilation = dilation

    def forward(self, data: Data) -> Data:
        graph = image_to_grid_graph(_image_of(data), kernel_size=self.kernel_size, dilation=self.dilation)
        return _merge(data, graph)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(kernel_size={self.kernel_size}, dilation={self.dilation})"


class ImageToPatchGraph(BaseTransform):
    """Transform: ``data.image [C, H, W]`` -> complete patch graph (other attributes kept).

    Args:
        patch_size: side ``p`` of the square patches; must divide ``H`` and ``W``.
        class_token: prepend a class-token node.
    """

    def __init__(self, patch_size: int, class_token: bool = True) -> None:
        if patch_size < 1:
            raise ValueError(f"patch_size must be positive, got {patch_size}")
        self.patch_size = patch_size
        self.class_token = class_token

    def forward(self, data: Data) -> Data:
        graph = image_to_patch_graph(_image_of(data), self.patch_size, class_token=self.class_token)
        return _merge(data, graph)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(patch_size={self.patch_size}, class_token={self.class_token})"


def _image_of(data: Data) -> Tensor:
    if "image" not in data:
        raise ValueError("the image transforms read 'data.image' ([C, H, W]), which is missing")
    return data.image


def _merge(data: Data, graph: Data) -> Data:
    out = data.clone()
    del out.image
    for key, value in graph.items():
        out[key] = value
    return out
