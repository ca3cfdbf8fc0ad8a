"""A task: what a model is asked, how it learns it and how its answers are scored.

Everything the harness knows of a task lives in its :class:`Task` class (one file per
task): the metrics it reports (name, label, which way is better, how seeds fold), the loss,
the evaluator, the step from raw outputs to predictions (``predict``), how test-time
views of one image are brought back and merged, and the pictures of a prediction. The
training loop, the report, ``val``, ``predict`` and the command line read these; none of
them asks which task it is.

Evaluators keep their statistics in tensors that are *sums over samples*, so evaluating
shards on several ranks and all-reducing with ``SUM`` gives exactly the single-process
result (detection gathers its per-image predictions instead).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, runtime_checkable

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from benchmarks.data import Batch
from benchmarks.metrics.per_class import ClassScore
from graphspec import SpecError

if TYPE_CHECKING:
    from PIL import Image

    from graphspec import Graph, Spec

__all__ = [
    "Baseline",
    "Batch",
    "Evaluator",
    "ImageResult",
    "Metric",
    "PerClass",
    "PerClassEvaluator",
    "Task",
    "View",
]


@dataclass(frozen=True)
class Metric:
    """A number a task reports: its results column, how people read it, how it ranks.

    ``name`` is the short label of tables, sentences and the command line; ``axis_label``
    the chart axis. ``higher_is_better`` says which way is better (validation, the best
    epoch, convergence, the Pareto frontier and the winner follow it). ``seeds`` is how a
    spec's seeds fold into one number (``mean`` or ``median``, with the sample std beside
    it). ``shown``: charted and tabled by the report (False: recorded in the results only).
    """

    column: str
    name: str
    axis_label: str
    higher_is_better: bool = True
    seeds: Literal["mean", "median"] = "mean"
    shown: bool = True


@dataclass(frozen=True)
class Baseline:
    """What a model that learned nothing scores on the data an evaluator saw.

    ``value`` is the primary metric of the task's trivial answer there (segmentation: the
    majority class everywhere; detection: no detections; classification: the majority
    class), ``what`` that answer in words, for the row's reason. A run whose best
    validation score is not better than ``value`` by the task's ``learned_margin``
    learned nothing: it is never converged, ranked, crowned or put on a frontier.
    """

    value: float
    what: str


@dataclass
class PerClass:
    """One score per class, and what the task has beside it: the confusion matrix (rows
    true class, columns predicted) or each class's precision at the COCO recall points."""

    scores: list[ClassScore]
    confusion: np.ndarray | None = None
    pr_curves: dict[str, list[float]] | None = None


@runtime_checkable
class Evaluator(Protocol):
    """Accumulates evaluation statistics over batches of predictions.

    ``state_tensors`` returns the live accumulator tensors (not copies): the caller sums them
    in place across ranks, then calls ``compute``, which must read them back.
    """

    def update(self, predictions: Any, batch: Batch) -> None: ...

    def state_tensors(self) -> list[Tensor]: ...

    def compute(self) -> dict[str, float]: ...


@runtime_checkable
class PerClassEvaluator(Evaluator, Protocol):
    """The evaluator of a task with a ``per_class_name``: one score per class as well."""

    def per_class(self, names: Sequence[str]) -> PerClass: ...


@dataclass(frozen=True)
class View:
    """One test-time view of a batch: the images resized to ``size`` (and mirrored when
    ``flipped``), for a batch whose images are ``input_size``."""

    size: tuple[int, int]
    input_size: tuple[int, int]
    flipped: bool = False


@dataclass
class ImageResult:
    """A prediction on one image at the image's own size: its picture, and the files a
    task writes beside it (a class mask, COCO detections)."""

    overlay: Image.Image
    mask: np.ndarray | None = None
    detections: list[dict[str, Any]] | None = None
    """COCO results entries (``category_id``, ``bbox``, ``score``) of a detector; None for
    a task that does not detect."""


class Task(ABC):
    """The per-task interface; see the module docstring.

    Subclasses set the class attributes; :meth:`for_spec` builds the task a spec asks for.
    ``per_class_name`` (``IoU``, ``AP``) names the per-class score; ``None`` means the task
    draws no pictures and has no per-class numbers, so ``predict`` and ``val`` refuse it.
    ``background_in_classes``: whether a spec's ``classes`` counts the background class.
    ``learned_margin``: how much better than :meth:`baseline` (in the primary metric's
    units) a run must validate to have learned something; one point (0.01) on the
    built-in tasks' fractions, the winner line's default tolerance, so a run that the
    report would call a tie with the trivial answer is not called a learner.
    """

    name: ClassVar[str]
    metrics: ClassVar[tuple[Metric, ...]]
    per_class_name: ClassVar[str | None] = None
    background_in_classes: ClassVar[bool] = False
    learned_margin: ClassVar[float] = 0.01

    @classmethod
    def serves(cls, spec: Spec, graph: Graph) -> bool:
        """Whether this task trains ``spec`` (compiled as ``graph``)."""
        return spec.task == cls.name

    @classmethod
    def for_spec(cls, spec: Spec, graph: Graph) -> Task:
        """The task object for a spec it serves; every task in :data:`benchmarks.tasks.TASKS`
        defines it (a wrapper such as test-time augmentation is built from a model)."""
        raise TypeError(f"task '{cls.name}' is not built from a spec")

    @classmethod
    def data_classes(cls, spec: Spec) -> int:
        """Classes the data must have, background included."""
        return spec.classes if cls.background_in_classes else spec.classes + 1

    def check_data(self, spec: Spec, dataset: Any) -> None:
        """Raise a SpecError at ``classes`` when the data's class count
        (``dataset.num_classes``, background included) is not the spec's."""
        have = getattr(dataset, "num_classes", None)
        if have is None or have == self.data_classes(spec):
            return
        want = have if self.background_in_classes else have - 1
        raise SpecError.at(
            spec.source.locate(("classes",)),
            f"class count does not match "
            f"the data (expected {want} for this dataset, got {spec.classes})",
        )

    @property
    def metric(self) -> str:
        """The primary metric's column: validation follows it, the report ranks by it."""
        return self.metrics[0].column

    @property
    def primary(self) -> Metric:
        return self.metrics[0]

    def with_inputs(self, dataset: Dataset) -> Dataset:
        """``dataset`` with whatever else this task's network reads beside the image
        (precomputed proposals); the dataset itself by default."""
        return dataset

    def view_batch(self, batch: Batch, images: Tensor, view: View) -> Batch:
        """The batch a test-time ``view`` runs on: ``images`` (already resized and
        mirrored) and what else the network reads, mapped into the view; by default only
        the images change."""
        return {**batch, "image": images}

    def forward(self, model: nn.Module, batch: Batch) -> Any:
        """Run the model on a batch; overridden by tasks whose models also take targets."""
        return model(batch["image"])

    @abstractmethod
    def loss(self, model_output: Any, batch: Batch) -> dict[str, Tensor]:
        """Return scalar losses; ``"loss"`` is optimised, any other key is only logged."""

    def predict(self, model_output: Any) -> Any:
        """The predictions the evaluator scores, from the model's raw output (detection
        decodes boxes here); the raw output itself by default."""
        return model_output

    @abstractmethod
    def evaluator(self, device: torch.device | str | None = None) -> Evaluator:
        """A fresh evaluator whose state tensors live on ``device`` (needed for NCCL)."""

    def baseline(self, evaluator: Evaluator) -> Baseline | None:
        """The primary metric of the trivial answer on the data ``evaluator`` has seen
        (after the ranks' sums were added up); None when the task declares none, and then
        no run of it is judged to have learned nothing."""
        return None

    def confident(self, predictions: Any, conf: float, max_det: int) -> Any:
        """What a picture or an exported file shows of ``predictions``: for a task whose
        predictions are scored boxes, those scoring at least ``conf``, the ``max_det`` best;
        the predictions themselves by default."""
        return predictions

    def unview(self, predictions: Any, view: View) -> Any:
        """Predictions made on ``view`` brought back to the input images (test-time
        augmentation); unchanged by default (image-level predictions)."""
        return predictions

    def merge(self, views: list[Any]) -> Any:
        """One prediction from several views' (already unviewed): their mean by default."""
        return sum(views[1:], views[0]) / len(views)

    def image_result(
        self, image: Image.Image, prediction: Any, names: Sequence[str]
    ) -> ImageResult:
        """One image's prediction (a batch of one, at the input size) drawn over ``image``
        at the image's own size; tasks with a ``per_class_name`` implement it."""
        raise NotImplementedError(f"task '{self.name}' draws no predictions")

    def draw_truth(
        self, image: Image.Image, sample: Mapping[str, Any], names: Sequence[str]
    ) -> Image.Image:
        """The ground truth of a data item drawn over ``image`` (same size)."""
        raise NotImplementedError(f"task '{self.name}' draws no ground truth")
