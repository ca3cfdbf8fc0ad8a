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
from compiler.emit.graphnet import GraphNet
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

    def forward(  # type: ignore[override]
        self,
        images: Tensor,
        proposals: Sequence[Tensor] | Tensor | None = None,
        targets: Targets | None = None,
    ) -> TwoStageOutput:
        """``proposals`` replace the network's own: per image ``[L, 4]``, or ``[K, 5]``
        rows ``(batch_index, x1, y1, x2, y2)`` (then ``rois`` is ``[rows]``, and no
        sampling); ``targets`` (per image ``boxes``/``labels``) make a training-mode pass
        sample its RoIs against the ground truth."""
        layout = self.layout
        env: dict[str, object] = {INPUT: images}
        rois: list[Tensor] = []
        sampled = None
        for step in self.steps:
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
        )

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
