#!/usr/bin/env python
"""Summarize leaderboard results: ``seed_*.json`` files -> ``summary.json`` + a Markdown row per folder.

    python scripts/aggregate.py results/ogb/*_molbbbp            # rows for these folders
    python scripts/aggregate.py results/ogb/* --table results.md  # header + rows into a file

Mean and unbiased std over seeds, parameter count and seconds per epoch come from
:mod:`graphformers.evaluation.aggregate` (the same code the drivers call).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from graphformers.evaluation.aggregate import MARKDOWN_HEADER, load_seed_results, markdown_row, summarize, write_json
from graphformers.utils.io import write_atomic


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folders", nargs="+", type=Path, help="results folders holding seed_*.json")
    p.add_argument("--table", type=Path, help="also write the Markdown table (header + rows) to this file")
    args = p.parse_args(argv)
    rows, failed = [], 0
    for folder in args.folders:
        try:
            summary = summarize(load_seed_results(folder))
        except (FileNotFoundError, ValueError, KeyError) as err:
            print(f"error: {folder}: {err}", file=sys.stderr)
            failed += 1
            continue
        write_json(folder / "summary.json", summary)
        row = markdown_row(summary)
        write_atomic(folder / "row.md", row + "\n")
        rows.append(row)
    table = "\n".join([MARKDOWN_HEADER, *rows])
    print(table)
    if args.table:
        write_atomic(args.table, table + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
