"""argparse value types and options shared by the command line and the scripts in ``scripts/``."""

from __future__ import annotations

import argparse


def seed_list(text: str) -> list[int]:
    """argparse type: seeds as ``0,1,2``, an inclusive range ``0-4`` or a mix
    (``0-2,7``); non-negative and distinct, kept in the given order."""
    seeds: list[int] = []
    for part in (p.strip() for p in text.split(",")):
        try:
            if "-" in part[1:]:
                lo, hi = (int(v) for v in part.split("-", 1))
                if hi < lo:
                    raise ValueError
                seeds.extend(range(lo, hi + 1))
            else:
                seeds.append(int(part))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"seeds: cannot parse {part!r} in {text!r} (use e.g. 0-4 or 0,1,2)"
            ) from None
    negative = [s for s in seeds if s < 0]
    if negative:
        raise argparse.ArgumentTypeError(f"seeds: {text!r} has negative seeds {negative}")
    repeated = sorted({s for s in seeds if seeds.count(s) > 1})
    if repeated:
        raise argparse.ArgumentTypeError(f"seeds: {text!r} has repeated seeds {repeated}")
    return seeds


def positive_int(text: str) -> int:
    """argparse type: an integer of at least 1."""
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def add_results_folder_options(parser: argparse.ArgumentParser) -> None:
    """``--overwrite`` / ``--resume`` (mutually exclusive) for a per-seed results folder,
    as the OGB scripts in ``scripts/`` keep it."""
    existing = parser.add_mutually_exclusive_group()
    existing.add_argument("--overwrite", action="store_true",
                          help="replace an existing results folder's results (summary and seed files)")
    existing.add_argument("--resume", action="store_true",
                          help="continue a killed run in --out: same config required, seeds with a seed file are "
                          "skipped, the summary covers every seed in the folder")
