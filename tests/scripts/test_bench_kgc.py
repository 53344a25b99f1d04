"""scripts/bench_kgc.py: the PyKEEN cross-check filters like ours; --compare-triples validation."""

from __future__ import annotations

import argparse
import warnings

import pytest
import torch


def test_compare_triples_arg(load_script):
    mod = load_script("bench_kgc")
    assert mod.compare_triples_arg("0") == 0 and mod.compare_triples_arg("25") == 25
    for bad in ("-1", "x", "2.5"):
        with pytest.raises(argparse.ArgumentTypeError, match="--compare-triples"):
            mod.compare_triples_arg(bad)


def test_pykeen_filters_with_all_test_triples(load_script):
    pytest.importorskip("pykeen")
    from graphformers.datasets.kg import load_kg_dataset
    from graphformers.kg.models import ComplEx

    mod = load_script("bench_kgc")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kg = load_kg_dataset("nations")
    torch.manual_seed(0)
    model = ComplEx(kg.num_nodes, 2 * kg.num_relations, 4).eval()
    prefix = kg.test[:20]
    _, ours = mod.bench_ours(kg, model, prefix, 64)
    _, pk, reason = mod.bench_pykeen(kg, model, prefix, 64)
    assert reason is None
    assert pk["tail"] == pytest.approx(ours["tail"]["mrr"], rel=1e-4)
