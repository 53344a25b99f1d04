"""Offline OGB folders processed by OGB's own classes: tiny generated molecule and node datasets."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import torch

pytest.importorskip("rdkit")
pytest.importorskip("ogb")

from graphformers.datasets.molecules import smiles_to_data  # noqa: E402
from graphformers.datasets.ogb import (  # noqa: E402
    graph_dataset,
    node_dataset,
    ogb_dir,
    ogb_safe_load,
    split_indices,
    write_node_dataset,
)
from graphformers.datasets.ogb_mol import build_mol_dataset, check_against_published  # noqa: E402

# 12 molecules (scaffold groups as in test_molecules, plus furan and cyclopropane); two tasks like ogbg-molclintox; one Al complex.
ROWS = [
    ("Oc1ccccc1", "1", "0"), ("CCO", "0", ""), ("Cc1ccccc1", "1", "1"), ("C1CCCCC1", "0", "0"),
    ("CCCCO[AlH3](OCCCC)OCCCC", "1", ""), ("c1ccncc1", "0", "1"), ("Nc1ccccc1", "1", "0"),
    ("Cc1ccncc1", "0", "0"), ("OC1CCCCC1", "1", "1"), ("c1ccc2ccccc2c1", "0", "0"), ("c1ccoc1", "1", "0"),
    ("C1CC1", "0", "1"),
]


def _csv(path, rows, header="smiles,FDA_APPROVED,CT_TOX"):
    with gzip.open(path, "wt") as fh:
        fh.write(header + "\n" + "".join(",".join(r) + "\n" for r in rows))
    return path


def test_built_folder_is_processed_by_ogb(tmp_path):
    folder = build_mol_dataset("ogbg-molclintox", tmp_path / "root", _csv(tmp_path / "c.csv.gz", ROWS), progress=False)
    assert folder == ogb_dir("ogbg-molclintox", tmp_path / "root")
    assert (folder / "RELEASE_v1.txt").exists() and (folder / "mapping" / "mol.csv.gz").exists()
    # bonds stored once: benzene ring of phenol has 6 + 1 bonds
    num_edges = [int(v) for v in gzip.open(folder / "raw" / "num-edge-list.csv.gz", "rt").read().split()]
    assert num_edges[0] == 7
    ds = graph_dataset("ogbg-molclintox", tmp_path / "root", build_offline=False)
    assert len(ds) == 12 and ds.num_tasks == 2
    for i, (smiles, *_) in enumerate(ROWS):
        ref = smiles_to_data(smiles)
        g = ds[i]
        assert torch.equal(g.x, ref.x) and torch.equal(g.edge_index, ref.edge_index)
        assert torch.equal(g.edge_attr, ref.edge_attr)
    y = torch.cat([ds[i].y for i in range(12)])
    assert y.dtype == torch.float32 and torch.isnan(y[1, 1]) and y[0].tolist() == [1.0, 0.0]
    split = split_indices(ds)
    # cut-offs 9.6 / 10.8: groups benzene, pyridine, cyclohexane, acyclic fill train (9); then the singletons
    # by index desc: [11] -> valid, [10] and [9] -> test
    assert split["train"].tolist() == [0, 2, 6, 5, 7, 3, 8, 1, 4]
    assert split["valid"].tolist() == [11] and split["test"].tolist() == [10, 9]
    record = check_against_published("ogbg-molclintox", ds, split)
    assert record["published_graphs"] == 1477 and record["graphs"] == 12 and not record["match"]


def test_processed_file_needs_the_scoped_allow_list(tmp_path):
    build_mol_dataset("ogbg-molclintox", tmp_path, _csv(tmp_path / "c.csv.gz", ROWS), progress=False)
    graph_dataset("ogbg-molclintox", tmp_path, build_offline=False)
    processed = ogb_dir("ogbg-molclintox", tmp_path) / "processed" / "geometric_data_processed.pt"
    with pytest.raises(Exception, match="Weights only load failed"):
        torch.load(processed)
    with ogb_safe_load():
        data, slices = torch.load(processed)
    assert int(slices["x"][-1]) == data.x.shape[0]
    with pytest.raises(Exception, match="Weights only load failed"):  # nothing leaks out of the block
        torch.load(processed)


def test_safe_load_keeps_pygs_own_registrations():
    before = set(torch.serialization.get_safe_globals())
    with ogb_safe_load():
        pass
    assert set(torch.serialization.get_safe_globals()) == before  # PyG's Data stays allowed


def test_unparsable_smiles_names_file_and_line_and_leaves_nothing(tmp_path):
    rows = [*ROWS[:3], ("C1CC", "0", "1")]
    src = _csv(tmp_path / "bad.csv.gz", rows)
    with pytest.raises(ValueError, match=r"bad\.csv\.gz: line 5: RDKit cannot parse SMILES 'C1CC'"):
        build_mol_dataset("ogbg-molclintox", tmp_path / "root", src, progress=False)
    assert not (tmp_path / "root").exists() or list((tmp_path / "root").iterdir()) == []


def test_empty_split_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="empty"):
        build_mol_dataset("ogbg-molclintox", tmp_path, _csv(tmp_path / "c.csv.gz", ROWS[:10]), progress=False)


def test_task_count_must_match_master(tmp_path):
    src = _csv(tmp_path / "one.csv.gz", [(s, a) for s, a, _ in ROWS], header="smiles,label")
    with pytest.raises(ValueError, match="1 task columns .* ogbg-molclintox has 2"):
        build_mol_dataset("ogbg-molclintox", tmp_path, src, progress=False)


def test_existing_folder_not_overwritten(tmp_path):
    src = _csv(tmp_path / "c.csv.gz", ROWS)
    build_mol_dataset("ogbg-molclintox", tmp_path / "r", src, progress=False)
    with pytest.raises(FileExistsError, match="overwrite"):
        build_mol_dataset("ogbg-molclintox", tmp_path / "r", src, progress=False)
    build_mol_dataset("ogbg-molclintox", tmp_path / "r", src, progress=False, overwrite=True)


def test_folder_without_release_file_is_refused_not_prompted(tmp_path):
    raw = ogb_dir("ogbg-molclintox", tmp_path) / "raw"
    raw.mkdir(parents=True)
    (raw / "edge.csv.gz").write_bytes(b"")  # a folder holding data is never removed
    with pytest.raises(RuntimeError, match="RELEASE_v1.txt"):
        graph_dataset("ogbg-molclintox", tmp_path, build_offline=False)
    assert (raw / "edge.csv.gz").exists()


def test_unknown_name():
    with pytest.raises(ValueError, match="ogbg-nope"):
        graph_dataset("ogbg-nope", "/nonexistent")


def test_node_dataset_arxiv_layout(tmp_path):
    gen = np.random.default_rng(0)
    n = 12
    edge_index = np.array([[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]])
    x = gen.standard_normal((n, 4)).astype(np.float32)
    y = gen.integers(0, 40, size=(n, 1))
    year = np.arange(2000, 2000 + n)
    split = {"train": np.arange(0, 8), "valid": np.arange(8, 10), "test": np.arange(10, 12)}
    write_node_dataset("ogbn-arxiv", tmp_path, edge_index=edge_index, x=x, y=y, split=split,
                       node_files={"node_year": year})
    ds = node_dataset("ogbn-arxiv", tmp_path)
    data = ds[0]
    assert data.num_nodes == n and data.edge_index.tolist() == edge_index.tolist()  # arxiv: no inverse edges
    np.testing.assert_allclose(data.x.numpy(), x, rtol=1e-6)
    assert data.y.dtype == torch.long and data.y.view(-1).tolist() == y.ravel().tolist()
    assert data.node_year.view(-1).tolist() == year.tolist()
    got = split_indices(ds)
    assert {k: v.tolist() for k, v in got.items()} == {k: v.tolist() for k, v in split.items()}


def test_node_dataset_bad_input(tmp_path):
    kw = dict(x=np.zeros((3, 2)), y=np.zeros(3, dtype=int), split={"train": [0], "valid": [1], "test": [2]})
    with pytest.raises(ValueError, match="node_year"):
        write_node_dataset("ogbn-arxiv", tmp_path, edge_index=np.array([[0], [1]]), **kw)
    with pytest.raises(ValueError, match="outside"):
        write_node_dataset("ogbn-arxiv", tmp_path, edge_index=np.array([[0], [5]]), node_files={"node_year": [1, 2, 3]},
                           **kw)


@pytest.mark.dataset
def test_ogbg_molhiv_offline_matches_ogb_counts(data_dir, tmp_path):
    ds = graph_dataset("ogbg-molhiv", tmp_path)
    split = split_indices(ds)
    record = check_against_published("ogbg-molhiv", ds, split)
    assert record["graphs"] == 41127 and record["match"]
    assert record["split"] == {"train": 32901, "valid": 4113, "test": 4113}
