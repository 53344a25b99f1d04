"""Evaluation shared by the drivers.

- ``ranking``: filtered rank-based link prediction (realistic / optimistic /
  pessimistic ties, MRR and Hits@k) for knowledge-graph completion.
- ``aggregate``: OGB leaderboard conventions (mean +- unbiased std over seeds,
  parameter counts, summary JSON and Markdown rows).
"""

from graphformers.evaluation.aggregate import (
    MARKDOWN_HEADER,
    count_parameters,
    load_seed_results,
    markdown_row,
    mean_std,
    summarize,
    write_json,
)
from graphformers.evaluation.ranking import FilterIndex, RankAccumulator, rank_metrics, ranks_from_scores

__all__ = [
    "FilterIndex",
    "RankAccumulator",
    "rank_metrics",
    "ranks_from_scores",
    "MARKDOWN_HEADER",
    "count_parameters",
    "load_seed_results",
    "markdown_row",
    "mean_std",
    "summarize",
    "write_json",
]
