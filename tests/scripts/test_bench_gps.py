"""The machinery of scripts/bench_gps.py on small inputs (no timing assertions)."""

from __future__ import annotations

import torch


def test_molecule_batch_has_molecule_statistics(load_script):
    bench = load_script("bench_gps")
    batch = bench.molecule_batch(64)
    nodes = batch.num_nodes / 64
    edges = batch.num_edges / 64
    assert 22 <= nodes <= 28 and 45 <= edges <= 60  # the issue's ~25 nodes, ~54 directed edges
    src, dst = batch.edge_index
    assert bool((batch.batch[src] == batch.batch[dst]).all())  # no edge between graphs


def test_ours_and_pyg_layers_agree_in_configuration_and_time_samples_run(load_script):
    bench = load_script("bench_gps")
    batch = bench.molecule_batch(4)
    for attn in ("full", "full_pytorch", "linear", "performer"):
        ours, ref = bench.ours(attn), bench.pyg("performer" if not attn.startswith("full") else "full")
        assert getattr(ours.attn, "native", None) is {"full": True, "full_pytorch": False}.get(attn)
        assert ours.channels == ref.channels == bench.C
        t_ours, t_ref = bench.time_samples(ours, ref, batch, reps=2)
        assert len(t_ours) == len(t_ref) == 2 and min(t_ours) > 0 and min(t_ref) > 0
        assert all(p.grad is not None for p in ours.parameters())  # forward+backward really ran


def test_memory_case_measures_a_forward_in_a_subprocess(load_script):
    bench = load_script("bench_gps")
    torch.set_num_threads(1)
    n = 3000
    dense_scores_gib = n * n * 4 / 2**30  # one float32 N x N matrix: 0.034 GiB
    rec = bench.memory_case({"n": n, "degree": 10, "attn": "full", "impl": "ours", "mode": "eval",
                             "edge_dim": bench.C}, timeout=120)
    assert "error" not in rec, rec
    # full attention in eval never holds even half of one N x N score matrix (measured 0.009 GiB)
    assert rec["seconds"] > 0 and 0 <= rec["peak_added_gib"] < dense_scores_gib / 2
    train = bench.memory_case({"n": n, "degree": 10, "attn": "full", "impl": "ours", "mode": "train",
                               "edge_dim": bench.C, "backward": True}, timeout=120)
    assert "error" not in train, train
    # a training step keeps no H x N x N attention weights (4 heads: 0.134 GiB; measured 0.026)
    assert 0 < train["peak_added_gib"] < bench.HEADS * dense_scores_gib / 2


def test_scaling_time_child_interleaves_sizes_under_both_allocators(load_script):
    bench = load_script("bench_gps")
    torch.set_num_threads(1)
    spec = {"mode": "scaling_time", "sizes": [300, 1000], "degree": 10, "rounds": 2}
    for env in (None, bench.REUSE_ALLOCATOR_ENV):
        rec = bench.memory_case(spec, timeout=120, env=env)
        assert "error" not in rec, rec
        assert set(rec) == {"300", "1000"}
        assert all(r["us_per_node"] > 0 and r["aggregation_us_per_node"] > 0 for r in rec.values())
    mem = bench.memory_case({"n": 1000, "degree": 10, "attn": "linear", "impl": "ours", "mode": "eval",
                             "edge_dim": 0}, timeout=120)
    assert "error" not in mem and mem["seconds"] > 0
    bad = bench.memory_case({**spec, "mode": "eval", "n": 1000, "attn": "linear", "impl": "ours", "edge_dim": 3},
                            timeout=120)
    assert "edge_dim must be 0" in bad["error"]


def test_train_steps_mode_times_both_allocators(load_script, capsys):
    import json

    bench = load_script("bench_gps")
    torch.set_num_threads(1)
    assert bench.main(["--train-nodes", "500", "--train-steps", "2", "--threads", "1"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r.get("allocator") for r in lines[:2]] == ["default", "reuse"]
    assert all(len(r["step_seconds"]) == 2 and r["peak_added_gib"] >= 0 for r in lines[:2])
    assert lines[2]["reuse_speedup"] == lines[2]["train_step_seconds_default"] / lines[2]["train_step_seconds_reuse"]


def test_checkpoint_mode_trains_both_settings_to_the_same_loss(load_script, capsys):
    import json

    bench = load_script("bench_gps")
    torch.set_num_threads(1)
    assert bench.main(["--checkpoint-nodes", "400", "--train-layers", "2", "--train-steps", "2", "--threads", "1"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r.get("checkpoint") for r in lines[:2]] == [False, True]
    assert all(len(r["step_seconds"]) == 2 and r["peak_added_gib"] >= 0 for r in lines[:2])
    # checkpointing changes memory and time, not the model: same loss on the same graph
    assert lines[0]["first_loss"] == lines[1]["first_loss"] and lines[2]["same_first_loss"] is True
    if lines[1]["peak_added_gib"] > 0:  # (a graph this small may add no resident pages)
        assert lines[2]["checkpoint_memory_ratio"] == lines[0]["peak_added_gib"] / lines[1]["peak_added_gib"]
