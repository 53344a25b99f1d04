"""SMILES featurization, the reference scaffold split and the MoleculeNet CSV reader on hand-made inputs."""

from __future__ import annotations

import gzip
import math

import numpy as np
import pytest
import torch

pytest.importorskip("rdkit")
from ogb.utils import smiles2graph  # noqa: E402

from graphformers.datasets.molecules import (  # noqa: E402
    mol_from_smiles,
    mol_to_graph,
    murcko_scaffold,
    partially_sanitized_mol,
    read_molecule_csv,
    scaffold_split,
    smiles_to_data,
)

AL_ALKOXIDE = "CCCCO[AlH3](OCCCC)OCCCC"  # Tox21 row 4649: RDKit rejects Al with valence 6


def test_benzene_graph():
    data = smiles_to_data("c1ccccc1", y=[1.0, float("nan")])
    assert data.num_nodes == 6 and data.x.shape == (6, 9) and data.x.dtype == torch.long
    assert data.edge_index.shape == (2, 12) and data.edge_attr.shape == (12, 3)
    # a ring: every atom has exactly two neighbours, and both directions of every bond exist
    assert torch.bincount(data.edge_index[0], minlength=6).tolist() == [2] * 6
    pairs = set(map(tuple, data.edge_index.t().tolist()))
    assert all((j, i) in pairs for i, j in pairs)
    assert {frozenset(p) for p in pairs} == {frozenset((k, (k + 1) % 6)) for k in range(6)}
    # OGB feature indices: carbon (atomic number 6 -> 5), total degree 3 (2 C + 1 H), charge 0 (-> 5), 1 H,
    # SP2 (-> 1), aromatic, in ring; bonds aromatic (-> 3), no stereo, conjugated.
    assert data.x.tolist() == [[5, 0, 3, 5, 1, 0, 1, 1, 1]] * 6
    assert data.edge_attr.tolist() == [[3, 0, 1]] * 12
    assert data.y.shape == (1, 2) and math.isnan(float(data.y[0, 1]))


@pytest.mark.parametrize("smiles", ["CC(=O)Oc1ccccc1C(=O)O", "C[C@H](N)C(=O)O", "C/C=C/Cl", "[Na+].[Cl-]", "C#N"])
def test_featurization_matches_ogb_and_partial_path(smiles):
    ref = smiles2graph(smiles)
    for graph in (mol_to_graph(mol_from_smiles(smiles)[0]), mol_to_graph(partially_sanitized_mol(smiles))):
        for key in ("node_feat", "edge_index", "edge_feat"):
            np.testing.assert_array_equal(graph[key], ref[key])
        assert graph["num_nodes"] == ref["num_nodes"]


def test_sanitization_failure_still_becomes_a_graph():
    assert mol_from_smiles(AL_ALKOXIDE)[1] is False  # full sanitization fails
    data = smiles_to_data(AL_ALKOXIDE)
    assert data.num_nodes == 16 and data.edge_index.shape == (2, 30)
    atomic = data.x[:, 0] + 1
    assert int((atomic == 13).sum()) == 1 and int((atomic == 8).sum()) == 3 and int((atomic == 6).sum()) == 12
    al = int((atomic == 13).nonzero())
    assert int(data.x[al, 2]) == 6 and int(data.x[al, 4]) == 3  # total degree 3 O + 3 H
    assert data.x[atomic == 6, 6].eq(2).all()  # carbons SP3
    assert data.edge_attr[:, 0].eq(0).all()  # all single bonds
    assert murcko_scaffold(AL_ALKOXIDE) == ""


@pytest.mark.parametrize("bad", ["C1CC", "C(C", "Xx", ""])
def test_unparsable_smiles_is_named(bad):
    with pytest.raises(ValueError, match="SMILES"):
        smiles_to_data(bad)


# scaffolds: 0 2 6 benzene, 1 4 acyclic, 3 8 cyclohexane, 5 7 pyridine, 9 naphthalene
SMILES = ["Oc1ccccc1", "CCO", "Cc1ccccc1", "C1CCCCC1", "CCC", "c1ccncc1", "Nc1ccccc1", "Cc1ccncc1", "OC1CCCCC1",
          "c1ccc2ccccc2c1"]


def test_scaffolds():
    got = [murcko_scaffold(s) for s in SMILES]
    assert got == ["c1ccccc1", "", "c1ccccc1", "C1CCCCC1", "", "c1ccncc1", "c1ccccc1", "c1ccncc1", "C1CCCCC1",
                   "c1ccc2ccccc2c1"]


def test_scaffold_split_tie_order():
    # Sets by size desc; ties of size 2 by first index desc: pyridine [5,7], cyclohexane [3,8], acyclic [1,4].
    # n=10, cut-offs 5 and 7: benzene (3) + pyridine (2) fill train; cyclohexane fits valid;
    # acyclic and naphthalene overflow valid and go to test.
    split = scaffold_split(SMILES, frac_train=0.5, frac_valid=0.2)
    assert split["train"].tolist() == [0, 2, 6, 5, 7]
    assert split["valid"].tolist() == [3, 8]
    assert split["test"].tolist() == [1, 4, 9]
    assert all(v.dtype == torch.long for v in split.values())


def test_scaffold_split_default_fractions_later_small_set_fills_train():
    # cut-offs 8 and 9: benzene, pyridine, cyclohexane -> train (7); acyclic (2) would make 9 > 8 -> valid;
    # naphthalene (1) still fits train (8 <= 8).
    split = scaffold_split(SMILES)
    assert split["train"].tolist() == [0, 2, 6, 5, 7, 3, 8, 9]
    assert split["valid"].tolist() == [1, 4]
    assert split["test"].tolist() == []


def test_scaffold_split_rejects_bad_fractions():
    with pytest.raises(ValueError, match="frac"):
        scaffold_split(SMILES, frac_train=0.9, frac_valid=0.2)


@pytest.mark.parametrize("compress", [False, True])
def test_read_molecule_csv(tmp_path, compress):
    text = "smiles,a,b,extra\nCCO,1,,x\nc1ccccc1,0,1.5,y\n"
    path = tmp_path / ("m.csv.gz" if compress else "m.csv")
    if compress:
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    smiles, y = read_molecule_csv(path, "smiles", ["b", "a"])
    assert smiles == ["CCO", "c1ccccc1"]
    assert y.dtype == torch.float and y.shape == (2, 2)
    assert math.isnan(float(y[0, 0])) and y[0, 1] == 1 and y[1].tolist() == [1.5, 0.0]


@pytest.mark.parametrize(
    "text, match",
    [
        ("smiles,a\nCCO,1\nCCC,yes\n", r"line 3: column 'a': 'yes'"),
        ("smiles,a\nCCO,1,2\n", "line 2: 3 fields"),
        ("smiles,b\nCCO,1\n", r"columns \['a'\]"),
        ("smiles,a\n,1\n", "line 2: empty SMILES"),
        ("", "empty file"),
    ],
)
def test_read_molecule_csv_errors_name_file_and_line(tmp_path, text, match):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=match) as err:
        read_molecule_csv(path, "smiles", ["a"])
    assert "bad.csv" in str(err.value)


def test_read_molecule_csv_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        read_molecule_csv(tmp_path / "nope.csv", "smiles", ["a"])
