"""Pictures saved atomically: segmentation overlays and boxes (``overlay``), chart files
(``files``), the confusion matrix (``confusion``) and precision-recall curves
(``pr_curves``). Drawing only: what to draw is decided by the rooms above.
"""
