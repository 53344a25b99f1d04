"""`graphformers ls models|datasets`."""

from __future__ import annotations

import json

from graphformers.cli import main


def test_ls_models_json(capsys):
    assert main(["ls", "models", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    for name in ("transe", "distmult", "complex", "rotate", "transformer"):
        assert rows[name]["task"] == "kgc" and rows[name]["citation"]
    assert "Trouillon" in rows["complex"]["citation"]


def test_ls_datasets(capsys):
    assert main(["ls", "datasets", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["fb15k-237"]["entities"] == 14541 and rows["wn18rr"]["test"] == 3134
    assert "smoke" in rows["nations"]["note"]
    assert main(["ls", "datasets"]) == 0
    assert "Dettmers" in capsys.readouterr().out


def test_ls_datasets_lists_graph_and_image_sets_with_published_sizes(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("GRAPHFORMERS_DATA", str(tmp_path))  # an empty data root: nothing local there
    assert main(["ls", "datasets", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["ogbg-molhiv"]["size"] == 41127 and rows["ogbg-molhiv"]["local"] is False
    assert rows["peptides-func"]["size"] == 15535 and rows["mnist-t10k"]["size"] == 10000
    assert rows["fb15k-237"]["local"] is False
    (tmp_path / "MoleculeNet").mkdir()
    (tmp_path / "MoleculeNet" / "bace.csv.gz").write_bytes(b"")
    assert main(["ls", "datasets", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["ogbg-molbace"]["local"] is True and rows["ogbg-molhiv"]["local"] is False


def test_ls_datasets_mnist_is_local_only_with_its_files(capsys, monkeypatch, tmp_path):
    """An empty vision/MNIST folder used to count as a local copy."""
    monkeypatch.setenv("GRAPHFORMERS_DATA", str(tmp_path))
    folder = tmp_path / "vision" / "MNIST"
    folder.mkdir(parents=True)

    def mnist_local() -> bool:
        assert main(["ls", "datasets", "--json"]) == 0
        return {r["name"]: r for r in json.loads(capsys.readouterr().out)}["mnist-t10k"]["local"]

    assert mnist_local() is False
    (folder / "t10k-images-idx3-ubyte.gz").write_bytes(b"")
    assert mnist_local() is False  # the labels are still missing
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(b"")
    assert mnist_local() is True
