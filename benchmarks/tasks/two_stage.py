"""Two-stage detection (R-CNN, Fast R-CNN, Faster R-CNN): the ``rcnn`` head's task.

Metrics, scoring, test-time views and pictures are every detector's
(:class:`~benchmarks.tasks.detection.DetectionTask`); what differs is that the network
takes the ground truth in training (it samples its RoIs against it, as Fast R-CNN's
minibatches do), returns a :class:`~compiler.emit.two_stage.TwoStageOutput`, and is
trained with two weighted losses: the RPN's (when proposals come from one) and the box
head's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from benchmarks.data import Batch
from benchmarks.data.augment import mirror_boxes
from benchmarks.data.proposal_files import ProposalFiles
from benchmarks.tasks.base import View
from benchmarks.tasks.detection import Detections, DetectionTask
from benchmarks.tasks.detection_eval import targets_of
from compiler.detection.rpn import rpn_loss
from compiler.detection.two_stage_decode import decode_two_stage
from compiler.detection.two_stage_loss import box_head_loss
from compiler.emit.two_stage import TwoStageOutput
from graphspec import DetectionHead, Graph, Spec
from graphspec.ir import TwoStageLayout
from graphspec.rcnn_schema import FileProposals, RPNProposals

__all__ = ["TwoStageTask"]


class TwoStageTask(DetectionTask):
    """The ``rcnn`` head: RoI sampling in the network, RPN + box-head losses, per-class
    decoding of every RoI's boxes and NMS."""

    head_type = "rcnn"

    def __init__(
        self,
        layout: TwoStageLayout,
        detection: DetectionHead,
        image_size: tuple[int, int],
        proposal_folder: Path | None = None,
    ) -> None:
        super().__init__(detection, image_size)
        self.layout = layout
        self.head = layout.head
        self.proposal_folder = proposal_folder
        """Where the proposal files are (``proposals.source: file``), resolved."""

    @classmethod
    def for_spec(cls, spec: Spec, graph: Graph) -> TwoStageTask:
        assert graph.detection is not None and graph.detection.two_stage is not None
        size = (spec.input.height, spec.input.width)
        folder = None
        proposals = graph.detection.two_stage.head.proposals
        if isinstance(proposals, FileProposals):
            folder = Path(proposals.folder).expanduser()
            if not folder.is_absolute() and spec.source.file[:1] != "<":
                folder = Path(spec.source.file).parent / folder
        return cls(graph.detection.two_stage, graph.detection, size, folder)

    def with_inputs(self, dataset: Dataset) -> Dataset:
        """The data with each image's proposal file read, when the spec's proposals are
        files (:mod:`benchmarks.data.proposal_files`)."""
        proposals = self.head.proposals
        if self.proposal_folder is None or not isinstance(proposals, FileProposals):
            return dataset
        return ProposalFiles(dataset, self.proposal_folder, proposals.count)

    def view_batch(self, batch: Batch, images: Tensor, view: View) -> Batch:
        """Precomputed proposals follow the images into a view: scaled, and mirrored."""
        viewed: Batch = {**batch, "image": images}
        if "proposals" in batch:
            (height, width), (view_h, view_w) = view.input_size, view.size
            scale = torch.tensor([view_w / width, view_h / height] * 2)
            boxes = [p * scale.to(p) for p in batch["proposals"]]
            viewed["proposals"] = (
                [mirror_boxes(b, view_w) for b in boxes] if view.flipped else boxes
            )
        return viewed

    def forward(self, model: nn.Module, batch: Batch) -> TwoStageOutput:
        """The network on the images (and their precomputed proposals, if the data has
        them); in training it also gets the ground truth, which it samples its RoIs
        against."""
        proposals = batch.get("proposals")
        if model.training:
            return model(batch["image"], proposals=proposals, targets=targets_of(batch))
        return model(batch["image"], proposals=proposals)

    def loss(self, model_output: Any, batch: Batch) -> dict[str, Tensor]:
        """``loss = rpn weight x (RPN class + box) + box-head class + box weight x box``;
        each term is logged as well."""
        out: TwoStageOutput = model_output
        if out.sampled is None:
            raise ValueError("a two-stage loss needs a training-mode pass with targets")
        losses = box_head_loss(
            out.class_logits.float(),
            out.box_deltas.float(),
            out.sampled.labels,
            out.sampled.targets,
            box_weight=self.head.loss.box_weight,
        )
        total = losses["box_class"] + losses["box_regression"]
        rpn = self.head.proposals
        if isinstance(rpn, RPNProposals) and out.rpn_objectness is not None:
            assert out.rpn_deltas is not None
            rpn_losses = rpn_loss(
                out.rpn_objectness.float(),
                out.rpn_deltas.float(),
                self._anchors(model_output),
                targets_of(batch),
                self.image_size,
                batch=rpn.batch,
                positive_fraction=rpn.positive_fraction,
                positive_iou=rpn.positive_iou,
                negative_iou=rpn.negative_iou,
            )
            losses.update(rpn_losses)
            total = total + rpn.loss_weight * (rpn_losses["rpn_class"] + rpn_losses["rpn_box"])
        return {"loss": total, **{k: v.detach() for k, v in losses.items()}}

    def _anchors(self, out: TwoStageOutput) -> Tensor:
        if out.anchors is None:
            raise ValueError("the network returned no anchors for its RPN")
        return out.anchors

    def decode(self, model_output: Any) -> Detections:
        out: TwoStageOutput = model_output
        test = self.head.test
        return decode_two_stage(
            out.class_logits.float(),
            out.box_deltas.float(),
            [r.float() for r in out.rois],
            self.image_size,
            stds=tuple(self.head.loss.stds),  # type: ignore[arg-type]
            score_threshold=test.score,
            nms_iou=test.nms,
            max_boxes=test.max_boxes,
        )
