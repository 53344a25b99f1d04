"""factory.apply_overrides names malformed overrides; load_config never swaps a missing path for a packaged file."""

from __future__ import annotations

import pytest

from graphformers.models.factory import apply_overrides, load_config


def test_malformed_value_names_the_override():
    with pytest.raises(ValueError, match=r"--set 'train\.lr=\[': the value '\[' is not valid YAML"):
        apply_overrides({"train": {}}, ["train.lr=["])


def test_override_through_a_value_names_the_key():
    with pytest.raises(ValueError, match=r"'train' is 5, not a section"):
        apply_overrides({"train": 5}, ["train.lr=0.1"])
    with pytest.raises(ValueError, match="empty key part"):
        apply_overrides({}, ["train..lr=0.1"])
    with pytest.raises(ValueError, match="key=value"):
        apply_overrides({}, ["train.lr"])


def test_overrides_still_parse_yaml_values():
    cfg = apply_overrides({"model": {"pe": []}}, ["model.pe=[{name: rwse, walk_length: 4, channels: 4}]",
                                                   "model.edge_encoder=null", "train.epochs=3"])
    assert cfg == {"model": {"pe": [{"name": "rwse", "walk_length": 4, "channels": 4}], "edge_encoder": None},
                   "train": {"epochs": 3}}


def test_bare_name_resolves_to_the_packaged_config():
    assert load_config("molecules_gine")["model"]["name"] == "mpnn"


@pytest.mark.parametrize("value", ["{tmp}/nope/molecules_gine.yaml", "molecules_gine.yaml", "./molecules_gine",
                                   "{tmp}/molecules_gine.yml"])
def test_missing_path_is_an_error_naming_it(tmp_path, monkeypatch, value):
    monkeypatch.chdir(tmp_path)
    value = value.format(tmp=tmp_path)
    with pytest.raises(FileNotFoundError, match="not found") as info:
        load_config(value)
    assert value in str(info.value)


def test_unknown_bare_name_lists_the_packaged_names():
    with pytest.raises(FileNotFoundError, match="molecules_gine"):
        load_config("molecules_ginx")


def test_existing_path_is_read(tmp_path, monkeypatch):
    (tmp_path / "mine.yaml").write_text("model: {name: mpnn, channels: 8}\n")
    assert load_config(tmp_path / "mine.yaml")["model"] == {"name": "mpnn", "channels": 8}
    monkeypatch.chdir(tmp_path)
    assert load_config("mine.yaml")["model"]["channels"] == 8  # a relative file with a .yaml suffix
    (tmp_path / "bad.yaml").write_text("model: [\n")
    with pytest.raises(ValueError, match="bad.yaml"):
        load_config(tmp_path / "bad.yaml")
    (tmp_path / "nomodel.yaml").write_text("train: {}\n")
    with pytest.raises(ValueError, match="'model' section"):
        load_config(tmp_path / "nomodel.yaml")
