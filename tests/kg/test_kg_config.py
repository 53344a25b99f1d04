"""Config resolution: defaults <- shipped preset <- file <- --set; every shipped preset builds."""

from __future__ import annotations

import pytest

from graphformers.kg.config import CONFIG_DIR, DEFAULTS, merge, parse_overrides, resolve_config, validate_config
from graphformers.kg.registry import MODELS, build_model
from graphformers.kg.training import LOSSES, OPTIMIZERS, REGULARIZERS


def test_parse_overrides_types():
    out = parse_overrides(["training.lr=0.05", "model.hidden_channels=200", "data_dir=null", "seed=3"])
    assert out == {"training": {"lr": 0.05}, "model": {"hidden_channels": 200}, "data_dir": None, "seed": 3}
    with pytest.raises(ValueError, match="key=value"):
        parse_overrides(["training.lr"])


def test_merge_rejects_unknown_keys_but_model_is_free():
    with pytest.raises(KeyError, match="training.lrate"):
        merge(DEFAULTS, {"training": {"lrate": 1}})
    assert merge(DEFAULTS, {"model": {"margin": 3.0}})["model"]["margin"] == 3.0


def test_precedence(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("training:\n  lr: 0.5\n  epochs: 7\n")
    cfg = resolve_config(dataset="umls", model="complex", config_file=f, overrides=["training.epochs=9"])
    assert cfg["training"]["lr"] == 0.5  # file beats preset
    assert cfg["training"]["epochs"] == 9  # --set beats file
    assert cfg["regularizer"]["name"] == "n3"  # from the umls-complex preset
    # a model without a preset drops the preset's model kwargs
    cfg = resolve_config(dataset="umls", model="transe")
    assert cfg["model"] == {"name": "transe", "hidden_channels": 100}


@pytest.mark.parametrize("path", sorted(CONFIG_DIR.glob("*.yaml")), ids=lambda p: p.stem)
def test_shipped_presets_build(path):
    dataset, model = path.stem.split("-", 1) if path.stem.count("-") == 1 else path.stem.rsplit("-", 1)
    cfg = resolve_config(dataset=dataset, model=model)
    assert cfg["dataset"] == dataset and cfg["model"]["name"] == model
    assert cfg["training"]["loss"] in LOSSES and cfg["training"]["optimizer"] in OPTIMIZERS
    assert cfg["regularizer"]["name"] in REGULARIZERS
    kwargs = {k: v for k, v in cfg["model"].items() if k != "name"}
    build_model(model, 5, 4, **kwargs)
    assert model in MODELS


def test_preset_needs_a_named_dataset(tmp_path):
    # --data-dir alone: no dataset named, so no UMLS label and no UMLS preset
    cfg = resolve_config(data_dir=tmp_path)
    assert cfg["dataset"] is None and cfg["data_dir"] == str(tmp_path.resolve())
    assert cfg["training"] == DEFAULTS["training"] and cfg["regularizer"] == DEFAULTS["regularizer"]
    assert cfg["model"] == {"name": "complex", "hidden_channels": 100}
    with pytest.raises(ValueError, match="no dataset: pass --dataset"):
        resolve_config()


def test_preset_lookup_uses_canonical_names():
    preset = resolve_config(dataset="kinships", model="complex")
    assert preset["training"]["batch_size"] == 128 and preset["model"]["init_std"] == 0.001
    alias = resolve_config(dataset="kinship", model="complex")  # an alias dataset_spec accepts
    assert {k: v for k, v in alias.items() if k != "dataset"} == {k: v for k, v in preset.items() if k != "dataset"}
    capital = resolve_config(dataset="UMLS", model="ComplEx")
    assert capital["model"] == {"name": "complex", "hidden_channels": 100, "init_std": 0.001}
    assert capital["regularizer"] == {"name": "n3", "weight": 0.01}


def test_preset_chosen_after_set_overrides(tmp_path):
    cfg = resolve_config(dataset="umls", overrides=["model.name=rotate"])
    assert cfg["model"] == {"name": "rotate", "hidden_channels": 100, "margin": 6.0}  # no ComplEx init_std
    assert cfg["training"]["optimizer"] == "adam" and cfg["regularizer"]["name"] == "none"  # umls-rotate preset
    build_model("rotate", 5, 4, **{k: v for k, v in cfg["model"].items() if k != "name"})
    cfg = resolve_config(model="rotate", overrides=["dataset=umls"])
    assert cfg["dataset"] == "umls" and cfg["training"]["optimizer"] == "adam"
    f = tmp_path / "c.yaml"
    f.write_text("dataset: kinships\nmodel:\n  name: rotate\n")
    assert resolve_config(config_file=f)["model"]["margin"] == 6.0
    with pytest.raises(ValueError, match="--dataset umls and --set dataset=wn18rr disagree"):
        resolve_config(dataset="umls", overrides=["dataset=wn18rr"])
    # the same name twice is fine
    assert resolve_config(dataset="umls", model="rotate", overrides=["model.name=RotatE"])["model"]["name"] == "rotate"


@pytest.mark.parametrize("item,message", [
    ("training.epochs=abc", "training.epochs must be a positive integer, got 'abc'"),
    ("training.epochs=true", "training.epochs must be a positive integer, got True"),
    ("training.lr=0", "training.lr must be a positive number, got 0"),
    ("training.label_smoothing=1", r"training.label_smoothing must be a number in \[0, 1\), got 1"),
    ("evaluation.patience=0", "evaluation.patience must be a positive integer, got 0"),
    ("unseen=ignore", "unseen must be one of keep, drop, error, got 'ignore'"),
    ("seed=1.5", "seed must be an integer in"),
    ("training=5", "config key 'training' is a section of keys"),
])
def test_validate_names_the_key(tmp_path, item, message):
    with pytest.raises(ValueError, match=message):
        resolve_config(data_dir=tmp_path, overrides=[item])


def test_validate_normalizes_and_names_the_file():
    cfg = merge(DEFAULTS, {"training": {"lr": "1e-3"}, "model": {"name": "DistMult"}})
    out = validate_config(cfg)
    assert out["training"]["lr"] == 0.001 and out["model"]["name"] == "distmult"
    assert cfg["training"]["lr"] == "1e-3"  # the input is not modified
    bad = merge(DEFAULTS, {"evaluation": {"every": 0}})
    with pytest.raises(ValueError, match=r"^run/config.yaml: evaluation.every must be a positive integer"):
        validate_config(bad, source="run/config.yaml")
    del bad["evaluation"]["every"]
    with pytest.raises(ValueError, match="config key 'evaluation.every' is missing"):
        validate_config(bad)


def test_bad_yaml_names_file_or_item(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("training:\n  lr: [0.1\n")
    with pytest.raises(ValueError, match=f"{f}: invalid YAML.*line 2"):
        resolve_config(dataset="umls", config_file=f)
    with pytest.raises(FileNotFoundError, match="config file .*missing.yaml not found"):
        resolve_config(dataset="umls", config_file=tmp_path / "missing.yaml")
    with pytest.raises(ValueError, match=r"--set 'training.lr=\[0.1': the value is not valid YAML"):
        parse_overrides(["training.lr=[0.1"])
    with pytest.raises(ValueError, match="training was set to a value by an earlier --set"):
        parse_overrides(["training=5", "training.lr=1"])
