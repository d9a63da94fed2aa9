"""What a person reads after a run: the summary tables (`summary`), each run's figures (`run`:
training curve, accuracy beside the baselines, confusion, per-class accuracy, the label-issue
gallery of `gallery`, uncertainty; drawn by `figures`) and the grid figures (`grid`).

Only the summary is imported here: the figure modules load matplotlib, which `lra report` does
not need.
"""

from .summary import seed_means, summary, write_summary

__all__ = ["seed_means", "summary", "write_summary"]
