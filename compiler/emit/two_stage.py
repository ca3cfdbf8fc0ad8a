"""Emission of a two-stage detector: :class:`TwoStageNet`, a :class:`GraphNet` whose
proposal step may be given (precomputed proposals, a FLOP count at a stated RoI count)
and, in training, is followed by RoI sampling against the ground truth.

The layers are GraphNet's, one submodule per node under the node's name, so the
state_dict is the same as the generated source's. What the network returns is a
:class:`TwoStageOutput`, the record the loss and the decoding read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from torch import Tensor

from compiler.detection.roi_sampling import SampledRoIs, sample_rois
from compiler.detection.two_stage_decode import decode_two_stage
from compiler.emit.graphnet import GraphNet, plan_steps
from graphspec import INPUT, Graph
from graphspec.ir import TwoStageLayout

__all__ = ["TwoStageNet", "TwoStageOutput", "two_stage_layout"]

Targets = Sequence[dict[str, Tensor]]


@dataclass
class TwoStageOutput:
    """One forward pass of a two-stage detector.

    ``class_logits`` ``[R, K+1]`` and ``box_deltas`` ``[R, 4(K+1)]`` (or ``[R, 4]``) have
    one row per RoI, the RoIs of all images in order; ``rois[i]`` ``[R_i, 4]`` are image
    ``i``'s (xyxy input pixels). ``rpn_objectness`` ``[N, A, 2]`` and ``rpn_deltas``
    ``[N, A, 4]`` are the RPN's rows on its ``anchors`` ``[A, 4]`` (None without an
    RPN); ``sampled`` holds the training
    targets of the RoIs (None unless the network ran in training mode with targets)."""

    class_logits: Tensor
    box_deltas: Tensor
    rois: list[Tensor]
    rpn_objectness: Tensor | None = None
    rpn_deltas: Tensor | None = None
    anchors: Tensor | None = None
    sampled: SampledRoIs | None = None
    mask_logits: Tensor | None = None
    """Mask branch: ``[P, K+1, MH, MW]``, one row per ``mask_rois`` box (None without)."""
    mask_rois: list[Tensor] | Tensor | None = None
    """The boxes the mask branch ran on: per image, the positive sampled RoIs in
    training, the detections (``detections[i]["boxes"]``) otherwise."""
    detections: list[dict[str, Tensor]] | None = None
    """Eval mode with a mask branch: the decoded detections its masks belong to."""


def two_stage_layout(graph: Graph) -> TwoStageLayout | None:
    """The graph's two-stage layout, or None for any other network."""
    return graph.detection.two_stage if graph.detection is not None else None


class TwoStageNet(GraphNet):
    """A network with an ``rcnn`` head (see the module docstring)."""

    def __init__(self, graph: Graph) -> None:
        super().__init__(graph)
        layout = two_stage_layout(graph)
        if layout is None:
            raise ValueError(f"{graph.name} has no two-stage head")
        self.layout = layout
        self.steps = plan_steps(graph, layout.mask_branch)  # the mask branch runs last
        _, height, width = graph[INPUT].shape
        self.image_size = (height, width)

    def forward(  # type: ignore[override]
        self,
        images: Tensor,
        proposals: Sequence[Tensor] | Tensor | None = None,
        targets: Targets | None = None,
        mask_boxes: Sequence[Tensor] | Tensor | None = None,
    ) -> TwoStageOutput:
        """``proposals`` replace the network's own: per image ``[L, 4]``, or ``[K, 5]``
        rows ``(batch_index, x1, y1, x2, y2)`` (then ``rois`` is ``[rows]``, and no
        sampling); ``targets`` (per image ``boxes``/``labels``) make a training-mode pass
        sample its RoIs against the ground truth. A mask branch runs last, on the positive
        sampled RoIs in training, otherwise on ``mask_boxes`` (per image) or, by default,
        on the decoded detections."""
        layout = self.layout
        env: dict[str, object] = {INPUT: images}
        rois: list[Tensor] = []
        sampled = mask_rois = detections = None
        for step in self.steps:
            if step.node in layout.mask_branch and mask_rois is None:
                mask_rois, detections = self._mask_rois(env, rois, sampled, mask_boxes)
                env[layout.proposals] = mask_rois
            if step.node == layout.proposals and isinstance(proposals, Tensor):
                out: object = proposals.to(images.device, images.dtype)
            elif step.node == layout.proposals and proposals is not None:
                out = [p.to(images.device, images.dtype) for p in proposals]
            else:
                out = getattr(self, step.node)(*[env[k] for k in step.inputs])
            if step.node == layout.proposals and isinstance(out, Tensor):
                rois = [out]
            elif step.node == layout.proposals:
                if self.training and targets is not None:
                    sampled = self._sample(out, targets)  # type: ignore[arg-type]
                    out = sampled.boxes
                rois = out  # type: ignore[assignment]
            if len(step.outputs) == 2:
                env[step.outputs[0]], env[step.outputs[1]] = out  # type: ignore[misc]
            else:
                env[step.outputs[0]] = out
            for key in step.release:
                del env[key]
        rpn = layout.rpn
        return TwoStageOutput(
            class_logits=env[layout.scores],  # type: ignore[arg-type]
            box_deltas=env[layout.deltas],  # type: ignore[arg-type]
            rois=list(rois),
            rpn_objectness=env[rpn[0]] if rpn else None,  # type: ignore[arg-type]
            rpn_deltas=env[rpn[1]] if rpn else None,  # type: ignore[arg-type]
            anchors=getattr(self, layout.proposals).anchors if rpn else None,
            sampled=sampled,
            mask_logits=env[layout.masks] if layout.masks else None,  # type: ignore[arg-type]
            mask_rois=mask_rois,
            detections=detections,
        )

    def _mask_rois(
        self,
        env: dict[str, object],
        rois: list[Tensor],
        sampled: SampledRoIs | None,
        given: Sequence[Tensor] | Tensor | None,
    ) -> tuple[list[Tensor] | Tensor, list[dict[str, Tensor]] | None]:
        """The boxes the mask branch runs on (see :meth:`forward`), and the detections
        they are when they were decoded here."""
        if sampled is not None:
            labels = sampled.labels.split([len(b) for b in sampled.boxes])
            return [b[lab > 0] for b, lab in zip(sampled.boxes, labels, strict=True)], None
        if isinstance(given, Tensor):  # [K, 5] rows, as the RoI ops take them
            return given, None
        if given is not None:
            return [b.to(rois[0]) for b in given], None
        test, scores = self.layout.head.test, env[self.layout.scores]
        detections = decode_two_stage(
            scores.float(),  # type: ignore[union-attr]
            env[self.layout.deltas].float(),  # type: ignore[union-attr]
            [r.float() for r in rois],
            self.image_size,
            stds=tuple(self.layout.head.loss.stds),  # type: ignore[arg-type]
            score_threshold=test.score,
            nms_iou=test.nms,
            max_boxes=test.max_boxes,
        )
        return [d["boxes"].to(rois[0]) for d in detections], detections

    def _sample(self, proposals: list[Tensor], targets: Targets) -> SampledRoIs:
        settings = self.layout.head
        sampling = settings.sampling
        return sample_rois(
            proposals,
            list(targets),
            rois_per_image=sampling.rois,
            foreground_fraction=sampling.foreground_fraction,
            foreground_iou=sampling.foreground_iou,
            background_iou=tuple(sampling.background_iou),  # type: ignore[arg-type]
            stds=tuple(settings.loss.stds),  # type: ignore[arg-type]
        )
