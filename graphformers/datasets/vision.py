"""Handwritten digits: the MNIST test set (idx files) and scikit-learn's 8x8 digits.

Both loaders return an :class:`ImageSplit` of float images ``[B, 1, H, W]``
scaled to ``[0, 1]`` and long labels, split with a fixed, stratified
permutation (:func:`stratified_split`), so every run and every model sees the
same train/test images.

* :func:`load_mnist` reads ``vision/MNIST/t10k-{images-idx3,labels-idx1}-ubyte.gz``
  under the data root (:func:`graphformers.settings.data_path`): the 10,000
  MNIST test images (LeCun et al., 1998), split 8,000 / 2,000.
* :func:`load_digits` wraps :func:`sklearn.datasets.load_digits` (1,797 8x8
  images shipped inside scikit-learn, values 0..16), split 1,437 / 360.
"""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from graphformers.settings import data_path

__all__ = ["ImageSplit", "load_digits", "load_mnist", "read_idx", "stratified_split"]

#: idx magic numbers: 0x0000 then the type code (0x08 = unsigned byte) then the number of dims.
IDX_IMAGES_MAGIC = 0x00000803
IDX_LABELS_MAGIC = 0x00000801


@dataclass(frozen=True)
class ImageSplit:
    """A fixed train/test split of an image classification dataset.

    Attributes:
        name: dataset name.
        train_x / test_x: ``[B, 1, H, W]`` float images in ``[0, 1]``.
        train_y / test_y: ``[B]`` long labels ``0..num_classes-1``.
        num_classes: number of classes.
    """

    name: str
    train_x: Tensor
    train_y: Tensor
    test_x: Tensor
    test_y: Tensor
    num_classes: int

    def __repr__(self) -> str:
        return (
            f"ImageSplit({self.name!r}, train={tuple(self.train_x.shape)}, "
            f"test={tuple(self.test_x.shape)}, num_classes={self.num_classes})"
        )


def read_idx(path: str | Path, *, expected_magic: int | None = None) -> np.ndarray:
    """Read a (possibly gzip-compressed) idx file of unsigned bytes.

    The header is a big-endian magic number ``0x000008DD`` (``DD`` = number of
    dimensions), then one big-endian ``uint32`` size per dimension, then the data.

    Args:
        path: file path (``.gz`` is decompressed).
        expected_magic: raise unless the magic number equals this.

    Raises:
        ValueError: naming the file, when it cannot be read (missing, not gzip,
            truncated or damaged compressed data), on a wrong magic number, a
            truncated header or a data size that does not match the header.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError) as err:
        raise ValueError(f"{path}: cannot read idx file ({type(err).__name__}: {err})") from err
    except zlib.error as err:  # a damaged deflate stream inside a valid gzip header
        raise ValueError(f"{path}: cannot read idx file (damaged compressed data: {err})") from err
    if len(raw) < 4:
        raise ValueError(f"{path}: too short for an idx header ({len(raw)} bytes)")
    magic = int.from_bytes(raw[:4], "big")
    if magic >> 8 != 0x08:
        raise ValueError(f"{path}: magic number 0x{magic:08x} is not an unsigned-byte idx file (0x000008DD)")
    if expected_magic is not None and magic != expected_magic:
        raise ValueError(f"{path}: magic number 0x{magic:08x}, expected 0x{expected_magic:08x}")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: header of {ndim} dims is truncated")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    size = int(np.prod(shape)) if shape else 0
    if len(raw) - header != size:
        raise ValueError(f"{path}: header announces shape {shape} ({size} bytes) but {len(raw) - header} follow")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def stratified_split(labels: Tensor, num_train: int, *, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Fixed stratified split: class proportions of the train part match the whole.

    Each class contributes ``round(num_train * n_c / n)`` (largest remainders
    fix the total) examples, drawn by a seeded permutation.

    Args:
        labels: ``[N]`` (or ``[N, 1]``) class labels.
        num_train: size of the train part, ``1..N-1``.
        seed: seed of the permutation.

    Returns:
        ``(train_index, test_index)``, each sorted.

    Raises:
        ValueError: on labels of another shape or ``num_train`` out of range.
    """
    if labels.dim() == 2 and labels.size(1) == 1:
        labels = labels.reshape(-1)
    if labels.dim() != 1:
        raise ValueError(f"'labels' must have shape [N] or [N, 1], got {tuple(labels.shape)}")
    n = labels.numel()
    if not 0 < num_train < n:
        raise ValueError(f"num_train must be in 1..{n - 1}, got {num_train}")
    classes, counts = torch.unique(labels, return_counts=True)
    quota = counts.double() * num_train / n
    take = quota.floor().long()
    order = torch.argsort(quota - take.double(), descending=True, stable=True)
    take[order[: num_train - int(take.sum())]] += 1
    g = torch.Generator().manual_seed(seed)
    train = []
    for c, t in zip(classes.tolist(), take.tolist()):
        idx = (labels == c).nonzero().view(-1)
        train.append(idx[torch.randperm(idx.numel(), generator=g)[:t]])
    train_index = torch.cat(train).sort().values
    is_train = torch.zeros(n, dtype=torch.bool)
    is_train[train_index] = True
    return train_index, (~is_train).nonzero().view(-1)


def _split(name: str, images: Tensor, labels: Tensor, num_train: int, seed: int) -> ImageSplit:
    train, test = stratified_split(labels, num_train, seed=seed)
    return ImageSplit(name, images[train], labels[train], images[test], labels[test], int(labels.max()) + 1)


def load_mnist(root: str | Path | None = None, *, num_train: int = 8000, seed: int = 0) -> ImageSplit:
    """The 10,000 MNIST test images, split stratified into ``num_train`` / rest (8,000 / 2,000).

    Args:
        root: folder holding ``t10k-*-ubyte.gz`` (default: ``<data root>/vision/MNIST``).
        num_train: size of the training part.
        seed: seed of the fixed split.
    """
    folder = Path(root) if root is not None else data_path("vision", "MNIST")
    images = read_idx(folder / "t10k-images-idx3-ubyte.gz", expected_magic=IDX_IMAGES_MAGIC)
    labels = read_idx(folder / "t10k-labels-idx1-ubyte.gz", expected_magic=IDX_LABELS_MAGIC)
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"{folder}: {images.shape[0]} images but {labels.shape[0]} labels")
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
    return _split("mnist", x, torch.from_numpy(labels.astype(np.int64)), num_train, seed)


def load_digits(*, num_train: int = 1437, seed: int = 0) -> ImageSplit:
    """scikit-learn's 1,797 8x8 digits (values 0..16 scaled to [0, 1]), split 1,437 / 360."""
    try:
        from sklearn.datasets import load_digits as sk_load_digits
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("load_digits needs scikit-learn: pip install 'graphformers[test]'") from err
    bunch = sk_load_digits()
    x = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    return _split("digits", x, torch.tensor(bunch.target, dtype=torch.long), num_train, seed)
