"""OGB drivers check the merged config (keys, types, epochs, dataset, config paths) before loading data."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("rdkit")
pytest.importorskip("ogb")

SMOKE = ["--smoke", "--no-progress", "--seeds", "0"]


@pytest.fixture
def graphprop(load_script, monkeypatch):
    """The graph driver with data loading replaced by a failure: a check must come first."""
    drv = load_script("ogb_graphprop")

    def no_data(*args, **kwargs):
        raise AssertionError("data loaded before the config was checked")

    monkeypatch.setattr(drv, "smoke_dataset", no_data)
    monkeypatch.setattr(drv, "load_dataset", no_data)
    return drv


@pytest.mark.parametrize(("override", "named"), [
    ("train.epoch=5", "train.epoch"),            # a typo is not silently ignored
    ("trian.epochs=5", "trian"),
    ("train.lr=[", "train.lr=["),                # malformed YAML names the override
    ("train.epochs=abc", "train.epochs"),
    ("train.epochs=0", "train.epochs"),
    ("train.epochs=-2", "train.epochs"),
    ("train.epochs=2.5", "train.epochs"),
    ("train.batch_size=0", "train.batch_size"),
    ("train.lr=abc", "train.lr"),
    ("train.subset=0", "train.subset"),
    ("model.channels=abc", "model.channels"),
    ("model.num_layers=0", "model.num_layers"),
    ("model.attention.name=bigbird", "bigbird"),  # the model is built once before any data
    ("train=5", "'train'"),
    ("model=5", "'model'"),
])
def test_graphprop_bad_override_is_named_before_loading_data(graphprop, tmp_path, capsys, override, named):
    assert graphprop.main([*SMOKE, "--out", str(tmp_path / "o"), "--set", override]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and named in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_graphprop_accepts_numbers_yaml_reads_as_strings(load_script, tmp_path):
    drv = load_script("ogb_graphprop")
    assert drv.main([*SMOKE, "--out", str(tmp_path / "o"), "--set", "train.lr=1e-3"]) == 0


@pytest.mark.parametrize("dataset", ["ogbg-ppa", "ogbg-code2"])
def test_unsupported_ogbg_datasets_are_refused_up_front(graphprop, tmp_path, capsys, dataset):
    assert graphprop.main([*SMOKE, "--out", str(tmp_path / "o"), "--set", f"dataset={dataset}"]) == 2
    err = capsys.readouterr().err
    assert dataset in err and "not supported" in err


def test_check_dataset_accepts_the_shipped_configs(load_script):
    drv = load_script("ogb_graphprop")
    for path in sorted(drv.CONFIG_DIR.glob("*.yaml")):
        cfg = drv._load_yaml(path)
        if cfg["dataset"].startswith("ogbg-") or cfg["dataset"] == "peptides-func":
            drv.check_dataset(cfg)
    with pytest.raises(ValueError, match="evaluator"):
        drv.check_dataset({"dataset": "peptides-func"})


def test_missing_config_paths_are_errors_not_packaged_stand_ins(graphprop, tmp_path, capsys):
    # scripts/configs/ogb/smoke.yaml and the packaged molecules_gine.yaml exist: a missing file
    # with the same name must not be replaced by them
    missing = tmp_path / "mine" / "smoke.yaml"
    assert graphprop.main(["--config", str(missing), "--model", "molecules_gine", "--out", str(tmp_path / "o")]) == 2
    assert str(missing) in capsys.readouterr().err
    model = tmp_path / "mine" / "molecules_gine.yaml"
    assert graphprop.main(["--config", "smoke", "--model", str(model), "--out", str(tmp_path / "o")]) == 2
    assert str(model) in capsys.readouterr().err
    assert graphprop.main(["--config", "molbbbp.yaml", "--model", "molecules_gine", "--out", str(tmp_path / "o")]) == 2
    assert "molbbbp.yaml" in capsys.readouterr().err


@pytest.mark.parametrize(("override", "named"), [
    ("train.epochs=0", "train.epochs"),
    ("train.epoch=5", "train.epoch"),
    ("train.to_undirected=maybe", "train.to_undirected"),
    ("model.channels=abc", "model.channels"),
    ("dataset=ogbn-proteins", "ogbn-proteins"),
])
def test_nodeprop_bad_override_is_named_before_loading_data(load_script, monkeypatch, tmp_path, capsys,
                                                            override, named):
    import graphformers.datasets.ogb as ogb_module

    drv = load_script("ogb_nodeprop")

    def no_data(*args, **kwargs):
        raise AssertionError("data loaded before the config was checked")

    monkeypatch.setattr(drv, "smoke_dataset", no_data)
    monkeypatch.setattr(ogb_module, "node_dataset", no_data)
    assert drv.main([*SMOKE, "--out", str(tmp_path / "o"), "--set", override]) == 2
    err = capsys.readouterr().err
    assert named in err and "Traceback" not in err


def test_pe_cache_files_of_different_subsets_do_not_evict_each_other(load_script, tmp_path):
    from graphformers.models.factory import load_config

    drv = load_script("ogb_graphprop")
    gen = torch.Generator().manual_seed(0)
    graphs = [torch.randint(0, 5, (2, 8), generator=gen) for _ in range(6)]
    from torch_geometric.data import Data

    graphs = [Data(edge_index=ei, num_nodes=5) for ei in graphs]
    model = load_config("molecules_gine_transformer_rwse")["model"]

    def run(subset):
        cfg = {"dataset": "ogbg-x", "train": {"subset": subset}, "model": model}
        return drv.precompute_transforms(cfg, graphs[: subset or len(graphs)], tmp_path)

    run(None), run(2), run(4)
    files = sorted(tmp_path.glob("*.pt"))
    assert len(files) == 3
    stamps = {f: f.stat().st_mtime_ns for f in files}
    run(2), run(None)  # cache hits: nothing is rewritten
    assert {f: f.stat().st_mtime_ns for f in files} == stamps
