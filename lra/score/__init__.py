"""The score family (workflow/rules/score.smk): what a user would otherwise run on the same
features (`baselines`), the numbers (`metrics`), the baselines' stratified sample at scale
(`subsample`), the training-label issue table (`issues`), and the score stage (`stage`)."""
