"""Training loops shared by the command line and the leaderboard scripts."""

from graphformers.training.graphprop import EpochRecord, evaluate, fit, train_epoch

__all__ = ["EpochRecord", "evaluate", "fit", "train_epoch"]
