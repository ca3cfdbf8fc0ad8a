"""``graphspec search``: Optuna turns a spec's ``search:`` knobs, each trial is benched like a
job of ``graphspec bench``, and the accuracy-vs-cost Pareto front of the trials comes out."""
