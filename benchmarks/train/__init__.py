"""Training a model: the loop (``loop``) and its epochs (``epoch``), evaluation
(``evaluate``), validation and early stopping (``validation``), the recipe, the optimizer
and schedule, the learning-rate range test, divergence and convergence, the per-epoch
history and the progress bar.
"""
