"""A trained model put to use: loading it from a job folder or a spec and weights
(``model``), ``graphspec val`` (``val``), ``graphspec predict`` (``predict``), test-time
augmentation (``tta``) and :func:`load_run` (``run``).
"""
