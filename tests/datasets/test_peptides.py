"""Peptides-func reader on a tiny folder in LRGB's layout, and the real one (dataset marker)."""

from __future__ import annotations

import gzip
import json

import pytest
import torch

pytest.importorskip("rdkit")

from graphformers.datasets.molecules import smiles_to_data  # noqa: E402
from graphformers.datasets.peptides import PEPTIDES_FUNC_SIZES, peptides_func  # noqa: E402

ROWS = [("NCC(=O)NCC(=O)O", [0, 1, 0, 0, 0, 0, 0, 0, 0, 1]),  # Gly-Gly
        ("C[C@H](N)C(=O)NCC(=O)O", [1, 0, 0, 0, 0, 0, 0, 0, 0, 0]),  # Ala-Gly
        ("NCC(=O)N[C@@H](C)C(=O)O", [0, 0, 0, 0, 0, 0, 0, 0, 1, 1])]  # Gly-Ala


def _folder(tmp_path, rows=ROWS, split=None):
    folder = tmp_path / "Peptides-func"
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
