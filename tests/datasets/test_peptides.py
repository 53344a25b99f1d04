"""Peptides-func reader on a tiny folder in LRGB's layout, and the real one (dataset marker)."""

from __future__ import annotations

import gzip
import json
import warnings

import pytest
import torch

pytest.importorskip("rdkit")

from graphformers.datasets.molecules import smiles_to_data  # noqa: E402
from graphformers.datasets.peptides import PEPTIDES_FUNC_SIZES, peptides_func  # noqa: E402

ROWS = [("NCC(=O)NCC(=O)O", [0, 1, 0, 0, 0, 0, 0, 0, 0, 1]),  # Gly-Gly
        ("C[C@H](N)C(=O)NCC(=O)O", [1, 0, 0, 0, 0, 0, 0, 0, 0, 0]),  # Ala-Gly
        ("NCC(=O)N[C@@H](C)C(=O)O", [0, 0, 0, 0, 0, 0, 0, 0, 1, 1])]  # Gly-Ala


def _folder(tmp_path, rows=ROWS, split=None, subfolder=True):
    folder = tmp_path / "Peptides-func" if subfolder else tmp_path
    folder.mkdir(parents=True)
    with gzip.open(folder / "peptide_multi_class_dataset.csv.gz", "wt") as fh:
        fh.write(",smiles,peptide_seq,labels,identifier\n")
        for i, (s, y) in enumerate(rows):
            fh.write(f'{i},{s},XX,"{y}",id{i}\n')
    with gzip.open(folder / "splits_random_stratified_peptide.json.gz", "wt") as fh:
        json.dump(split or {"train": [2, 0], "val": [1], "test": []}, fh)
    return folder


def test_tiny_folder(tmp_path):
    graphs, split = peptides_func(_folder(tmp_path), cache=tmp_path / "c.pt", progress=False)
    assert len(graphs) == 3 and split["train"].tolist() == [2, 0] and split["valid"].tolist() == [1]
    for g, (s, y) in zip(graphs, ROWS):
        ref = smiles_to_data(s)
        assert torch.equal(g.x, ref.x) and torch.equal(g.edge_index, ref.edge_index)
        assert torch.equal(g.edge_attr, ref.edge_attr) and g.y.tolist() == [y]
    again, _ = peptides_func(_folder(tmp_path / "b"), cache=tmp_path / "c.pt", progress=False)  # from the cache
    assert all(torch.equal(a.x, b.x) for a, b in zip(graphs, again))


def test_bad_labels_and_split(tmp_path):
    with pytest.raises(ValueError, match="line 3: labels"):
        peptides_func(_folder(tmp_path / "a", rows=[ROWS[0], ("CCO", [0, 1])]), cache=tmp_path / "a.pt")
    with pytest.raises(ValueError, match="outside"):
        peptides_func(_folder(tmp_path / "b", split={"train": [5], "val": [], "test": []}), cache=tmp_path / "b.pt")
    with pytest.raises(FileNotFoundError, match="peptide_multi_class"):
        peptides_func(tmp_path / "nope")


@pytest.mark.dataset
def test_real_peptides_func_counts(data_dir):
    graphs, split = peptides_func(data_dir / "Peptides-func", progress=False)
    assert len(graphs) == PEPTIDES_FUNC_SIZES["graphs"]
    assert {k: len(v) for k, v in split.items()} == {k: PEPTIDES_FUNC_SIZES[k] for k in ("train", "valid", "test")}
    positives = torch.cat([g.y for g in graphs]).sum(0).long().tolist()
    assert positives == [1378, 545, 995, 969, 9745, 3077, 1662, 2866, 299, 4044]  # data README


# --- Peptides-func cache ----------------------------------------------------------------------------

PEPTIDES = [("NCC(=O)NCC(=O)O", [0, 1, 0, 0, 0, 0, 0, 0, 0, 1]), ("C[C@H](N)C(=O)NCC(=O)O", [1] + [0] * 9)]
OTHERS = [("CCO", [0] * 10), ("c1ccccc1O", [1] * 10)]  # as many rows, other molecules


def _peptides(folder, rows):
    return _folder(folder, rows=rows, split={"train": [0], "val": [1], "test": []}, subfolder=False)


def _assert_graphs_of(graphs, rows):
    for g, (s, _) in zip(graphs, rows):
        ref = smiles_to_data(s)
        assert torch.equal(g.x, ref.x) and torch.equal(g.edge_index, ref.edge_index)


def test_peptides_cache_is_keyed_on_the_source_file(tmp_path):
    cache = tmp_path / "c.pt"
    _assert_graphs_of(peptides_func(_peptides(tmp_path / "a", PEPTIDES), cache=cache, progress=False)[0], PEPTIDES)
    # same row count, other molecules: the cache of folder a must not be reused
    _assert_graphs_of(peptides_func(_peptides(tmp_path / "b", OTHERS), cache=cache, progress=False)[0], OTHERS)


def test_peptides_default_cache_depends_on_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHFORMERS_CACHE", str(tmp_path / "cache"))
    peptides_func(_peptides(tmp_path / "a", PEPTIDES), progress=False)
    peptides_func(_peptides(tmp_path / "b", OTHERS), progress=False)
    assert len(list((tmp_path / "cache").glob("peptides_func_*.pt"))) == 2


def test_corrupt_peptides_cache_is_reported_and_recomputed(tmp_path):
    folder, cache = _peptides(tmp_path / "a", PEPTIDES), tmp_path / "c.pt"
    cache.write_bytes(b"not a torch file")
    with pytest.warns(UserWarning, match=r"c\.pt cannot be read"):
        graphs, _ = peptides_func(folder, cache=cache, progress=False)
    _assert_graphs_of(graphs, PEPTIDES)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the rewritten cache loads cleanly
        _assert_graphs_of(peptides_func(folder, cache=cache, progress=False)[0], PEPTIDES)
