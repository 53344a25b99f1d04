"""Loaders name the file (and line) of bad input, explain missing data, and leave nothing half-made."""

from __future__ import annotations

import gzip
import urllib.error
import urllib.request

import numpy as np
import pytest

pytest.importorskip("rdkit")
pytest.importorskip("ogb")

from graphformers.datasets.embedded import load_freesolv  # noqa: E402
from graphformers.datasets.ogb import graph_dataset, node_dataset, ogb_dir, write_node_dataset  # noqa: E402
from graphformers.datasets.ogb_mol import build_mol_dataset  # noqa: E402

BACE = ["mol,Class", "Cc1ccccc1,0", "Oc1ccccc1,1", "Nc1ccccc1,0", "Clc1ccncc1,1", "C1CCCCC1,0", "OC1CCCCC1,1"]


# --- ogbg-mol* CSVs ---------------------------------------------------------------------------------


def test_non_utf8_header_names_the_file(tmp_path):
    path = tmp_path / "bin.csv"
    path.write_bytes(b"mol,Cl\xffass\nCCO,1\n")
    with pytest.raises(ValueError, match=r"bin\.csv: line 1: cannot read the header.*UnicodeDecodeError"):
        build_mol_dataset("ogbg-molbace", tmp_path / "root", path, progress=False)


def test_truncated_gzip_names_the_file(tmp_path):
    path = tmp_path / "trunc.csv.gz"
    path.write_bytes(gzip.compress("\n".join(BACE).encode())[:12])
    with pytest.raises(ValueError, match=r"trunc\.csv\.gz: line 1: cannot read the header \(gzip file\)"):
        build_mol_dataset("ogbg-molbace", tmp_path / "root", path, progress=False)
    assert not (tmp_path / "root").exists()


def test_bad_smiles_after_a_blank_line_names_its_own_line(tmp_path):
    path = tmp_path / "blank.csv"
    lines = [*BACE[:3], "", *BACE[3:], "C1CC(,1", "CCO,0"]  # the bad SMILES is on line 9
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"blank\.csv: line 9: RDKit cannot parse SMILES 'C1CC\('"):
        build_mol_dataset("ogbg-molbace", tmp_path / "root", path, progress=False)


# --- FreeSolv ---------------------------------------------------------------------------------------


def test_freesolv_gzip_is_recognised_by_content(tmp_path):
    path = tmp_path / "freesolv.csv"  # gzip without the .gz suffix
    path.write_bytes(gzip.compress(b"smiles,freesolv\nCCO,-5.0\n\nCCN,-4.5\n"))
    assert load_freesolv(path) == (["CCO", "CCN"], [-5.0, -4.5])


def test_freesolv_errors_name_file_and_line(tmp_path):
    empty = tmp_path / "empty_smiles.csv"
    empty.write_text("smiles,freesolv\nCCO,1.0\n,2.0\n")
    with pytest.raises(ValueError, match=r"empty_smiles\.csv, line 3: empty SMILES"):
        load_freesolv(empty)
    short = tmp_path / "short.csv"
    short.write_text("smiles,freesolv\nCCO,1.0\nCCN\n")
    with pytest.raises(ValueError, match=r"short\.csv, line 3: 1 fields, header has 2"):
        load_freesolv(short)
    binary = tmp_path / "latin1.csv"
    binary.write_bytes(b"smiles,freesolv\nCCO,1.0\nC\xe9,2.0\n")
    with pytest.raises(ValueError, match=r"latin1\.csv: .*cannot read the text file: UnicodeDecodeError"):
        load_freesolv(binary)
    truncated = tmp_path / "trunc.csv.gz"
    truncated.write_bytes(gzip.compress(b"smiles,freesolv\n" + b"CCO,1.0\n" * 200)[:40])
    with pytest.raises(ValueError, match=r"trunc\.csv\.gz: .*cannot read the gzip file"):
        load_freesolv(truncated)


# --- OGB folders ------------------------------------------------------------------------------------


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No internet, and GRAPHFORMERS_DATA pointing at an empty folder."""

    def refuse(*args, **kwargs):
        raise urllib.error.URLError("no network in this test")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv("GRAPHFORMERS_DATA", str(data))
    return data


def test_missing_ogbg_dataset_explains_where_data_goes_and_leaves_nothing(offline, tmp_path):
    root = tmp_path / "root"
    for _ in range(2):  # the second attempt gets the same advice (no half-made folder in between)
        with pytest.raises(FileNotFoundError) as info:
            graph_dataset("ogbg-molbace", root)
        message = str(info.value)
        assert "GRAPHFORMERS_DATA" in message and "MoleculeNet/bace.csv.gz" in message
        assert str(ogb_dir("ogbg-molbace", root)) in message and "URLError" in message
        assert not ogb_dir("ogbg-molbace", root).exists()


def test_empty_folder_from_an_earlier_failure_is_cleaned(offline, tmp_path):
    root = tmp_path / "root"
    (ogb_dir("ogbn-arxiv", root) / "raw").mkdir(parents=True)  # what OGB's failed download used to leave
    with pytest.raises(FileNotFoundError, match="GRAPHFORMERS_DATA.*ogbn_arxiv"):
        node_dataset("ogbn-arxiv", root)
    assert not ogb_dir("ogbn-arxiv", root).exists()


def test_write_node_dataset_refuses_an_empty_split_part(tmp_path):
    kw = dict(edge_index=np.array([[0], [1]]), x=np.zeros((3, 2)), y=np.zeros(3, dtype=int),
              node_files={"node_year": [1, 2, 3]})
    with pytest.raises(ValueError, match=r"split\['valid'\] is empty"):
        write_node_dataset("ogbn-arxiv", tmp_path, split={"train": [0, 1], "valid": [], "test": [2]}, **kw)
    with pytest.raises(ValueError, match=r"split\['test'\] holds node indices outside"):
        write_node_dataset("ogbn-arxiv", tmp_path, split={"train": [0], "valid": [1], "test": [3]}, **kw)
    assert list(tmp_path.iterdir()) == []


