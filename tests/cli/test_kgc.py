"""`graphformers kgc` train / evaluate / predict / resume on the tiny literal KG (via --data-dir)."""

from __future__ import annotations

import json

import pytest
import torch

from graphformers.cli import main
from graphformers.kg.tiny import TINY_TEST, TINY_TRAIN, TINY_VALID

FAST = ["--set", "model.hidden_channels=8", "--set", "training.epochs=4", "--set", "training.batch_size=8",
        "--set", "evaluation.every=2", "--set", "regularizer.weight=0.001", "--no-progress", "--threads", "1"]


@pytest.fixture(autouse=True)
def _restore_threads():
    """``--threads 1`` sets torch's global thread count; give it back after each test."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture
def tiny_dir(tmp_path):
    folder = tmp_path / "tinykg"
    folder.mkdir()
    for split, rows in (("train", TINY_TRAIN), ("valid", TINY_VALID), ("test", TINY_TEST)):
        (folder / f"{split}.txt").write_text("".join("\t".join(r) + "\n" for r in rows))
    return folder


def _train(tiny_dir, out, *extra):
    return main(["kgc", "train", "--dataset", "tiny", "--model", "complex", "--data-dir", str(tiny_dir),
                 "--out", str(out), "--json", *FAST, *extra])


def test_train_evaluate_predict(tiny_dir, tmp_path, capsys):
    out = tmp_path / "run"
    assert _train(tiny_dir, out) == 0
    result = json.loads(capsys.readouterr().out)
    for name in ("config.yaml", "vocab.json", "checkpoint.pt", "best.pt", "early_stopping.jsonl", "metrics.json"):
        assert (out / name).is_file(), name
    assert result["epochs_trained"] == 4
    assert json.loads((out / "metrics.json").read_text())["test"] == result["test"]
    assert len((out / "early_stopping.jsonl").read_text().splitlines()) == 2
    # the checkpoint loads with weights_only=True
    torch.load(out / "checkpoint.pt", weights_only=True)

    assert main(["kgc", "evaluate", str(out), "--json", "--no-progress"]) == 0
    ev = json.loads(capsys.readouterr().out)
    assert ev["test"] == result["test"]

    assert main(["kgc", "predict", str(out), "--head", "alice", "--relation", "lives_in", "--top-k", "3",
                 "--json"]) == 0
    pred = json.loads(capsys.readouterr().out)
    assert [p["rank"] for p in pred["predictions"]] == [1, 2, 3]
    scores = [p["score"] for p in pred["predictions"]]
    assert scores == sorted(scores, reverse=True)
    assert main(["kgc", "predict", str(out), "--tail", "paris", "--relation", "lives_in"]) == 0
    assert "top 10 heads" in capsys.readouterr().out


def test_predict_unknown_name_close_matches(tiny_dir, tmp_path, capsys):
    out = tmp_path / "run"
    assert _train(tiny_dir, out) == 0
    capsys.readouterr()
    assert main(["kgc", "predict", str(out), "--head", "alise", "--relation", "lives_in"]) == 1
    err = capsys.readouterr().err
    assert "unknown entity 'alise'" in err and "alice" in err
    assert main(["kgc", "predict", str(out), "--head", "alice", "--relation", "live_in"]) == 1
    assert "lives_in" in capsys.readouterr().err


def test_out_folder_not_overwritten(tiny_dir, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    assert _train(tiny_dir, out) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "notes.txt").read_text() == "keep me"
    assert _train(tiny_dir, out, "--overwrite") == 0


def test_resume_after_kill_matches_uninterrupted(tiny_dir, tmp_path, capsys, monkeypatch):
    from graphformers.kg.training import KGCTrainer

    assert _train(tiny_dir, tmp_path / "straight") == 0
    straight = json.loads(capsys.readouterr().out)

    original = KGCTrainer.save_checkpoint
    calls = {"n": 0}

    def killed_after_two(self):
        original(self)
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # the process dies right after epoch 2's checkpoint

    monkeypatch.setattr(KGCTrainer, "save_checkpoint", killed_after_two)
    with pytest.raises(KeyboardInterrupt):
        _train(tiny_dir, tmp_path / "killed")
    monkeypatch.setattr(KGCTrainer, "save_checkpoint", original)
    capsys.readouterr()
    assert not (tmp_path / "killed" / "metrics.json").exists()
    torch.manual_seed(4321)  # a fresh process would not share the global RNG state
    assert main(["kgc", "train", "--resume", str(tmp_path / "killed"), "--json", "--no-progress"]) == 0
    resumed = json.loads(capsys.readouterr().out)
    assert resumed["test"] == straight["test"] and resumed["valid"] == straight["valid"]
    a = torch.load(tmp_path / "straight" / "checkpoint.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "killed" / "checkpoint.pt", weights_only=True)["model"]
    for key in a:
        assert torch.equal(a[key], b[key]), key
    # resume refuses extra options that would change the run
    assert main(["kgc", "train", "--resume", str(tmp_path / "killed"), "--model", "rotate"]) == 1


def test_bad_config_key_and_missing_data(tiny_dir, tmp_path, capsys, monkeypatch):
    assert _train(tiny_dir, tmp_path / "a", "--set", "training.lrate=0.1") == 1
    assert "unknown config key 'training.lrate'" in capsys.readouterr().err
    assert _train(tiny_dir, tmp_path / "b", "--set", "training.loss=hinge") == 1
    assert "training.loss" in capsys.readouterr().err

    import urllib.request

    def offline(*args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    monkeypatch.setenv("GRAPHFORMERS_DATA", str(tmp_path))
    monkeypatch.setenv("GRAPHFORMERS_CACHE", str(tmp_path / "cache"))
    assert main(["kgc", "train", "--dataset", "umls", "--out", str(tmp_path / "c"), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "GRAPHFORMERS_DATA" in err and "--data-dir" in err


def test_resume_after_kill_in_first_epoch(tiny_dir, tmp_path, capsys, monkeypatch):
    """A run killed before its first checkpoint restarts at epoch 0 and ends as the uninterrupted run."""
    from graphformers.kg.training import KGCTrainer

    assert _train(tiny_dir, tmp_path / "straight") == 0
    straight = json.loads(capsys.readouterr().out)

    def killed(self):
        raise KeyboardInterrupt  # the process dies inside epoch 1

    monkeypatch.setattr(KGCTrainer, "train_epoch", killed)
    with pytest.raises(KeyboardInterrupt):
        _train(tiny_dir, tmp_path / "killed")
    monkeypatch.undo()
    killed_dir = tmp_path / "killed"
    assert sorted(p.name for p in killed_dir.iterdir()) == ["config.yaml", "vocab.json"]
    capsys.readouterr()
    assert _train(tiny_dir, killed_dir) == 1  # a plain rerun points at --resume ...
    assert f"--resume {killed_dir}" in capsys.readouterr().err
    torch.manual_seed(4321)  # ... which works from a fresh process
    assert main(["kgc", "train", "--resume", str(killed_dir), "--json", "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert "starting again at epoch 0" in captured.err
    resumed = json.loads(captured.out)
    assert resumed["test"] == straight["test"] and resumed["valid"] == straight["valid"]
    a = torch.load(tmp_path / "straight" / "checkpoint.pt", weights_only=True)["model"]
    b = torch.load(killed_dir / "checkpoint.pt", weights_only=True)["model"]
    for key in a:
        assert torch.equal(a[key], b[key]), key


def _write_dir(folder, train, valid, test):
    folder.mkdir()
    for split, rows in (("train", train), ("valid", valid), ("test", test)):
        (folder / f"{split}.txt").write_text("".join("\t".join(r) + "\n" for r in rows))
    return folder


@pytest.mark.parametrize("case", ["empty", "dropped"])
def test_empty_valid_split_is_a_clear_error_before_out(tmp_path, capsys, case):
    if case == "empty":
        data, extra = _write_dir(tmp_path / "d", TINY_TRAIN, [], TINY_TEST), []
    else:  # every valid triple uses an entity unseen in train: unseen=drop empties the split
        data = _write_dir(tmp_path / "d", TINY_TRAIN, [("zed", "lives_in", "paris")], TINY_TEST)
        extra = ["--set", "unseen=drop"]
    out = tmp_path / "run"
    with pytest.warns(UserWarning) if extra else _nullcontext():
        assert _train(data, out, *extra) == 1
    captured = capsys.readouterr()
    assert "the valid split has no triples" in captured.err
    assert ("unseen=drop" in captured.err) == bool(extra)
    assert captured.out == "" and not out.exists()


def _nullcontext():
    import contextlib

    return contextlib.nullcontext()


@pytest.mark.parametrize("item,message", [
    ("training.optimizer=adamw", "training.optimizer must be one of adagrad, adam, sgd, got 'adamw'"),
    ("training.loss=hinge", "training.loss must be one of 1vsall, negative_sampling, got 'hinge'"),
    ("training.lr=fast", "training.lr must be a positive number, got 'fast'"),
    ("training.epochs=abc", "training.epochs must be a positive integer, got 'abc'"),
    ("evaluation.every=0", "evaluation.every must be a positive integer, got 0"),
    ("evaluation.batch_size=0", "evaluation.batch_size must be a positive integer, got 0"),
    ("evaluation.metric=auc", "evaluation.metric must be one of mrr, mr, hits@1, hits@3, hits@10, got 'auc'"),
    ("regularizer.weight=-1", "regularizer.weight must be a number >= 0, got -1"),
    ("model.name=nope", "model.name must be one of transe, distmult, complex, rotate, transformer"),
    ("training.lr=[0.1", "--set 'training.lr=[0.1': the value is not valid YAML"),
])
def test_bad_config_value_named_and_no_folder_made(tiny_dir, tmp_path, capsys, item, message):
    out = tmp_path / "run"
    assert main(["kgc", "train", "--data-dir", str(tiny_dir), "--out", str(out), "--no-progress",
                 "--set", item]) == 1
    assert message in capsys.readouterr().err
    assert not out.exists()
    # the same folder then takes a good run
    assert _train(tiny_dir, out) == 0


@pytest.mark.parametrize("args,message", [
    (["--set", "training=5"], "config key 'training' is a section of keys, not a value (got 5)"),
    (["--set", "model=rotate"], "e.g. model.name=rotate"),
    (["--device", "gpu"], "--device 'gpu' is not a torch device"),
    (["--model", "complex", "--set", "model.name=rotate"], "--model complex and --set model.name=rotate disagree"),
])
def test_bad_sections_and_options_are_clear_errors(tiny_dir, tmp_path, capsys, args, message):
    out = tmp_path / "run"
    assert main(["kgc", "train", "--data-dir", str(tiny_dir), "--out", str(out), "--no-progress", *args]) == 1
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_bad_config_file_names_the_file(tiny_dir, tmp_path, capsys):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("training:\n  lr: [0.1\n")
    out = tmp_path / "run"
    assert main(["kgc", "train", "--data-dir", str(tiny_dir), "--config", str(cfg), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"{cfg}: invalid YAML" in err and "line 2" in err
    cfg.write_text("evaluation:\n  every: 0\n")
    assert main(["kgc", "train", "--data-dir", str(tiny_dir), "--config", str(cfg), "--out", str(out)]) == 1
    assert "evaluation.every must be a positive integer, got 0" in capsys.readouterr().err
    assert not out.exists()


def test_resume_checks_data_against_vocab(tiny_dir, tmp_path, capsys):
    out = tmp_path / "run"
    assert _train(tiny_dir, out) == 0
    metrics = (out / "metrics.json").read_bytes()
    capsys.readouterr()
    # reordered train lines give other ids: resume must not re-evaluate with scrambled ids
    (tiny_dir / "train.txt").write_text("".join("\t".join(r) + "\n" for r in reversed(TINY_TRAIN)))
    assert main(["kgc", "train", "--resume", str(out), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "do not match" in err and "vocab.json" in err and "entities id 0 is 'frank'" in err
    assert (out / "metrics.json").read_bytes() == metrics
    # one more entity: a clear error too, not a size-mismatch traceback
    more = (*TINY_TRAIN, ("zed", "lives_in", "rome"))
    (tiny_dir / "train.txt").write_text("".join("\t".join(r) + "\n" for r in more))
    assert main(["kgc", "train", "--resume", str(out), "--no-progress"]) == 1
    assert "12 entities in the data, 11 in vocab.json" in capsys.readouterr().err
    assert (out / "metrics.json").read_bytes() == metrics


def test_data_dir_from_set_is_stored_absolute(tiny_dir, tmp_path, capsys, monkeypatch):
    import yaml

    monkeypatch.chdir(tiny_dir.parent)
    assert main(["kgc", "train", "--set", f"data_dir={tiny_dir.name}", "--out", "run", "--json", *FAST]) == 0
    result = json.loads(capsys.readouterr().out)
    cfg = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert cfg["data_dir"] == str(tiny_dir.resolve()) and cfg["dataset"] is None
    assert result["dataset"] == "tinykg"  # the folder's name labels a run without --dataset
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["kgc", "evaluate", str(tmp_path / "run"), "--json", "--no-progress"]) == 0
    assert json.loads(capsys.readouterr().out)["test"] == result["test"]


def test_json_output_is_strict(tiny_dir, tmp_path, capsys):
    """metrics.json, early_stopping.jsonl and stdout parse as strict JSON (no NaN)."""
    def strict(text):
        return json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))

    out = tmp_path / "run"
    assert _train(tiny_dir, out) == 0
    strict(capsys.readouterr().out)
    strict((out / "metrics.json").read_text())
    for line in (out / "early_stopping.jsonl").read_text().splitlines():
        strict(line)
    (tiny_dir / "valid.txt").write_text("")
    assert main(["kgc", "evaluate", str(out), "--split", "valid", "--json", "--no-progress"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "the valid split of tiny has no triples" in captured.err


def test_damaged_checkpoint_is_a_clear_error_naming_the_file(tiny_dir, tmp_path, capsys):
    """A damaged best.pt / checkpoint.pt: `kgc evaluate` and `--resume` exit with an error
    naming the file (before: torch's own unpickling traceback)."""
    from graphformers.utils.io import load_weights

    out = tmp_path / "run"
    assert _train(tiny_dir, out) == 0
    for name in ("best.pt", "checkpoint.pt"):
        (out / name).write_bytes((out / name).read_bytes()[:100])  # truncated
    capsys.readouterr()
    assert main(["kgc", "evaluate", str(out)]) != 0
    assert "best.pt cannot be loaded" in capsys.readouterr().err
    assert main(["kgc", "train", "--resume", str(out), "--no-progress"]) != 0
    assert "checkpoint.pt cannot be loaded" in capsys.readouterr().err
    bad = tmp_path / "checkpoint.pt"
    bad.write_bytes(b"PK\x03\x04 not really a torch file")
    with pytest.raises(ValueError, match=r"checkpoint .*checkpoint\.pt cannot be loaded"):
        load_weights(bad)
    with pytest.raises(FileNotFoundError, match="not found"):
        load_weights(tmp_path / "missing.pt")
