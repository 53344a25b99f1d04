"""The scripts take their argparse types from graphformers.cli.args (one set of rules)."""

from __future__ import annotations

import argparse

import pytest

from graphformers.cli.args import seed_list

pytest.importorskip("rdkit")
pytest.importorskip("ogb")


def test_every_command_parses_seeds_the_same_way(load_script):
    """The quickstart, the OGB drivers and the FreeSolv baselines share one seed type."""
    from graphformers.cli import quickstart

    parser = argparse.ArgumentParser()
    quickstart.add_parser(parser.add_subparsers())
    assert parser.parse_args(["quickstart", "--seeds", "0-2,5"]).seeds == [0, 1, 2, 5]
    for name in ("ogb_graphprop", "ogb_nodeprop", "freesolv_baselines"):
        assert load_script(name).seed_list is seed_list
