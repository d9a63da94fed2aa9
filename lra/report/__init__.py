"""The report family (workflow/rules/report.smk): what a person reads after a run. The summary
tables (`summary`), each run's figures (`run`: training curve, accuracy beside the baselines,
confusion, per-class accuracy, the label-issue gallery of `gallery`, uncertainty; drawn by
`figures`), the figures over every run (`grid`: who won in each cell, and the sweeps of a grid). Its three stages are `summary.write_summary`,
`run.plot_run` and `grid.plot_grid`. Snakemake's HTML report (`snakemake --report`) gathers
their outputs.

Nothing heavy is imported here: the figure modules load matplotlib.
"""

# The figures of a run (`<run>/figures/<name>.png`, stage plots), and over every run
# (`results/figures/<name>.png`, stage grid_plots): who won, always; the sweeps, for a grid config.
RUN_FIGURES = ("training", "accuracy", "confusion", "per_class", "label_issues", "uncertainty")
OVERVIEW_FIGURES = ("accuracy",)
GRID_FIGURES = ("accuracy_vs_k", "accuracy_vs_noise")
