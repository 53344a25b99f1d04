"""Config resolution: defaults <- shipped preset <- file <- --set; every shipped preset builds."""

from __future__ import annotations

import pytest

from graphformers.kg.config import CONFIG_DIR, DEFAULTS, merge, parse_overrides, resolve_config
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
