"""idx reader (magic numbers, truncation), stratified split, digits and MNIST loaders."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import torch

from graphformers.datasets.vision import IDX_IMAGES_MAGIC, load_digits, load_mnist, read_idx, stratified_split


def _write_idx(path, magic: int, dims: list[int], payload: bytes, gz: bool = True) -> None:
    raw = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims) + payload
    (gzip.open if gz else open)(path, "wb").write(raw)


def test_read_idx_roundtrip(tmp_path):
    data = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    _write_idx(tmp_path / "a.gz", 0x803, [2, 3, 4], data.tobytes())
    assert np.array_equal(read_idx(tmp_path / "a.gz", expected_magic=IDX_IMAGES_MAGIC), data)
    _write_idx(tmp_path / "b", 0x801, [3], bytes([1, 2, 3]), gz=False)
    assert read_idx(tmp_path / "b").tolist() == [1, 2, 3]


def test_read_idx_errors_name_the_file(tmp_path):
    _write_idx(tmp_path / "labels.gz", 0x801, [3], bytes([1, 2, 3]))
    with pytest.raises(ValueError, match=r"labels\.gz: magic number 0x00000801, expected 0x00000803"):
        read_idx(tmp_path / "labels.gz", expected_magic=IDX_IMAGES_MAGIC)
    _write_idx(tmp_path / "float.gz", 0x0D01, [1], bytes(4))
    with pytest.raises(ValueError, match="not an unsigned-byte idx"):
        read_idx(tmp_path / "float.gz")
    _write_idx(tmp_path / "short.gz", 0x803, [2, 2, 2], bytes(5))
    with pytest.raises(ValueError, match=r"announces shape \(2, 2, 2\)"):
        read_idx(tmp_path / "short.gz")
    (tmp_path / "notgz.gz").write_bytes(b"plain")
    with pytest.raises(ValueError, match="cannot read"):
        read_idx(tmp_path / "notgz.gz")


def test_stratified_split_is_fixed_and_stratified():
    labels = torch.tensor([0] * 50 + [1] * 30 + [2] * 20)
    train, test = stratified_split(labels, 80, seed=3)
    assert len(train) == 80 and len(test) == 20
    assert torch.equal(torch.sort(torch.cat([train, test])).values, torch.arange(100))
    assert torch.bincount(labels[train]).tolist() == [40, 24, 16]
    again, _ = stratified_split(labels, 80, seed=3)
    assert torch.equal(train, again)
    with pytest.raises(ValueError, match="num_train"):
        stratified_split(labels, 100)


def test_load_digits():
    split = load_digits()
    assert split.train_x.shape == (1437, 1, 8, 8) and split.test_x.shape == (360, 1, 8, 8)
    assert float(split.train_x.max()) == 1.0 and split.num_classes == 10
    assert set(torch.bincount(split.test_y).tolist()) <= {35, 36, 37}


@pytest.mark.dataset
def test_load_mnist(data_dir):
    split = load_mnist(data_dir / "vision" / "MNIST")
    assert split.train_x.shape == (8000, 1, 28, 28) and split.test_x.shape == (2000, 1, 28, 28)
    counts = torch.bincount(torch.cat([split.train_y, split.test_y])).tolist()
    assert counts == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert torch.bincount(split.test_y).tolist() == [196, 227, 206, 202, 196, 178, 192, 206, 195, 202]


def test_read_idx_names_the_file_of_a_damaged_deflate_stream(tmp_path):
    raw = (0x803).to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in (2, 3, 3)) + bytes(range(18))
    gz = gzip.compress(raw)
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(gz[:12] + bytes([gz[12] ^ 0xFF, gz[13] ^ 0x55]) + gz[14:])  # bare zlib.error before
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte\.gz: cannot read idx file \(damaged compressed data"):
        read_idx(path)
    path.write_bytes(gz[:-6])  # truncated
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte\.gz: cannot read idx file"):
        read_idx(path)


def test_stratified_split_accepts_column_labels_and_rejects_other_shapes():
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2, 2, 1, 0])
    flat = stratified_split(labels, 6, seed=1)
    for column in (labels.view(-1, 1), torch.stack([labels, labels], dim=1)[:, :1]):
        train, test = stratified_split(column, 6, seed=1)
        assert torch.equal(train, flat[0]) and torch.equal(test, flat[1])
    with pytest.raises(ValueError, match=r"'labels' must have shape \[N\] or \[N, 1\], got \(6, 2\)"):
        stratified_split(labels.view(6, 2), 3)
