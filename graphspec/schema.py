"""The spec document: pydantic models for every section of a graphspec YAML file.

Field names are short and match the YAML keys. Encoder layers are the typed ops of
:mod:`graphspec.ops`; sections used by the compiler (decoder, head, encoder_init) are
declared here too so one schema describes a whole spec and editors can validate it.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, PrivateAttr
from pydantic_core import PydanticCustomError

from graphspec.ops import IDENT, Layer, PosInt, Strict, on_new_op
from graphspec.ops.names import LayerName
from graphspec.rcnn_schema import MaskBranch, RCNNHead
from graphspec.search_schema import Knobs
from graphspec.source import SourceMap
from graphspec.tasks import TaskName, on_new_task

MAX_REPEAT = 1000
MAX_EPOCHS = 10_000
MAX_BATCH_SIZE = 65_536
Name = Annotated[str, Field(pattern=IDENT)]
PositiveFloat = Annotated[float, Field(gt=0)]


class InputShape(Strict):
    channels: PosInt = 3
    height: PosInt
    width: PosInt


class Scale(Strict):
    """Multipliers applied when the graph is built: ``width`` scales every ``out``
    (except ``out: classes``)."""

    width: PositiveFloat = 1.0


class Stage(Strict):
    """A named group of layers, repeated ``repeat`` times in sequence (``stage`` follows
    the layer-name rule of docs/limits.md)."""

    stage: LayerName
    repeat: Annotated[int, Field(ge=1, le=MAX_REPEAT)] = 1
    layers: Annotated[list[Layer], Field(min_length=1)]


class Budget(Strict):
    """Limits the checker enforces (CI uses these to stop a model growing unnoticed)."""

    max_params: PositiveFloat | None = None
    max_gflops: PositiveFloat | None = None


class Decoder(Strict):
    """How the compiler derives a decoder by mirroring the encoder."""

    mirror: bool = True
    upsample: Literal["unpool", "transposed", "tied", "bilinear"] = "unpool"
    skips: Literal["concat", "add", "none"] = "none"
    batchnorm: bool = True  # a batch-norm + ReLU after each decoder conv, as in SegNet


class SegmentationHead(Strict):
    """A 1x1 conv to ``classes`` logits per pixel at the input's resolution.

    ``fuse``: make the decoder's last conv the classifier instead (same geometry,
    ``classes`` outputs, a bias, no norm or activation after it), as the published SegNet
    does; it saves the extra 1x1 conv and a 64-channel layer, and is what reproduces the
    paper's parameter count."""

    type: Literal["segmentation"] = "segmentation"
    fuse: bool = False


class FCNHead(Strict):
    """FCN-style head: 1x1 score convs on the final map and on each named ``skips``
    feature (e.g. ``[pool4, pool3]`` for FCN-8s), fused coarse-to-fine, resized to the input."""

    type: Literal["fcn"] = "fcn"
    skips: list[Name] = []


class Anchors(Strict):
    """SSD default boxes: scales spread linearly from ``min_scale`` to ``max_scale`` over the
    source maps; per map, ratio 1 at two scales plus r and 1/r for each listed ratio."""

    min_scale: Annotated[float, Field(gt=0, le=1)] = 0.2
    max_scale: Annotated[float, Field(gt=0, le=1)] = 0.9
    aspect_ratios: list[list[PositiveFloat]]


class DetectionLoss(Strict):
    """Joint loss: class cross-entropy + ``box_weight`` x box regression."""

    box: Literal["smooth_l1", "mse"] = "smooth_l1"
    box_weight: PositiveFloat = 1.0
    neg_pos_ratio: PositiveFloat = 3.0
    iou_threshold: Annotated[float, Field(gt=0, le=1)] = 0.5


class SSDHead(Strict):
    """SSD multi-box head: a 3x3 class conv and box conv on every named source map."""

    type: Literal["ssd"] = "ssd"
    sources: Annotated[list[Name], Field(min_length=1)]
    anchors: Anchors
    l2norm: list[Name] = []  # sources rescaled by a learned per-channel L2 norm (conv4_3)
    loss: DetectionLoss = DetectionLoss()


class YOLOHead(Strict):
    """YOLOv1 grid head: the encoder's last (FC) output is read as S x S x (B*5 + C)."""

    type: Literal["yolo"] = "yolo"
    grid: PosInt = 7
    boxes: PosInt = 2
    lambda_coord: PositiveFloat = 5.0
    lambda_noobj: PositiveFloat = 0.5


class ClassificationHead(Strict):
    """The encoder's own output is the class scores (a plain classifier)."""

    type: Literal["classification"] = "classification"


def _check_key(value: str) -> str:
    """A ``skip`` entry is a key or a prefix of whole parts: ``classifier.6``, not
    ``classifier.`` (a prefix ends at a dot, so the dot is implied)."""
    if not re.fullmatch(r"[^\s.]+(\.[^\s.]+)*", value):
        raise PydanticCustomError(
            "name",
            "invalid checkpoint key '{key}' (expected parts joined by dots, no spaces and "
            "no dot at either end, such as classifier.6)",
            {"key": value},
        )
    return value


CheckpointKey = Annotated[str, Field(max_length=200), AfterValidator(_check_key)]


class EncoderInit(Strict):
    """Transfer learning: load encoder weights from a local checkpoint.

    ``match: name`` pairs a checkpoint key with the encoder tensor of the same name (a
    graphspec checkpoint such as a run's ``best.pt``). ``match: order`` is for backbones
    saved by other code (torchvision, timm), whose keys never name graphspec layers: the
    checkpoint's tensors, in its key order, fill the encoder's in graph order, each pair's
    shapes agreeing (a linear's ``[out, C*h*w]`` fills a conv ``[out, C, h, w]`` and back),
    and a tensor left over is an error. ``skip`` leaves checkpoint keys out first, such as
    the classifier a segmentation or detection spec does not have (docs/transfer.md)."""

    checkpoint: str  # a state_dict file; a relative path starts at the spec file's folder
    freeze: bool = False  # when true, the encoder's parameters get no gradients
    strict: bool = False  # when true, any missing or unexpected key is an error
    match: Literal["name", "order"] = "name"  # pair tensors by key name or by position
    skip: Annotated[
        list[CheckpointKey],
        Field(
            max_length=1000,
            description="checkpoint keys, or key prefixes up to a dot, left out before "
            "matching (e.g. `classifier.6`: a classifier's last layer)",
        ),
    ] = []


class Train(Strict):
    """Per-spec overrides of the sweep's training recipe; an absent key keeps the sweep's.

    For the few architectures that cannot train at the shared default (e.g. a deep plain
    VGG without batch norm at a high lr), so the exception is written down in the spec
    itself and recorded with the results, not hidden in a command line. ``warmup`` is the
    fraction of all optimizer steps spent warming up linearly, as
    ``TrainConfig.warmup_fraction`` in the harness.
    """

    lr: PositiveFloat | None = None
    epochs: Annotated[int, Field(ge=1, le=MAX_EPOCHS)] | None = None
    batch_size: Annotated[int, Field(ge=1, le=MAX_BATCH_SIZE)] | None = None
    weight_decay: Annotated[float, Field(ge=0)] | None = None
    warmup: Annotated[float, Field(ge=0, lt=1)] | None = None


Head = Annotated[
    SegmentationHead | FCNHead | SSDHead | YOLOHead | RCNNHead | ClassificationHead,
    Field(discriminator="type"),
]


ClassName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f]+$")]


class Spec(Strict):
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")]
    task: TaskName = "classification"
    input: InputShape
    classes: PosInt
    class_names: list[ClassName] | None = None  # a name per class, background first if counted
    scale: Scale = Scale()
    encoder: Annotated[list[Stage], Field(min_length=1)]
    decoder: Decoder | None = None
    head: Head | None = None
    encoder_init: EncoderInit | None = None
    budget: Budget | None = None
    train: Train | None = None
    search: Knobs | None = None  # design-space knobs: path -> choices or a range, each checked

    _source: SourceMap = PrivateAttr(default_factory=SourceMap)

    @property
    def source(self) -> SourceMap:
        """Where each key of this spec came from (empty for specs built in Python)."""
        return self._source

    def with_input_size(self, size: tuple[int, int] | None) -> Spec:
        """This spec at another input ``(height, width)`` (a sweep's ``--image-size``, a
        test-time scale), keeping its source map so errors still point into the file;
        itself when ``size`` is None or already its size."""
        if size is None or (self.input.height, self.input.width) == tuple(size):
            return self
        shape = InputShape(channels=self.input.channels, height=size[0], width=size[1])
        resized = self.model_copy(update={"input": shape})
        resized._source = self._source
        return resized


def _rebuild_layer_union() -> None:
    """A newly defined op class joins the ``op`` union of every model that holds layers."""
    Stage.model_rebuild(force=True)
    MaskBranch.model_rebuild(force=True)
    RCNNHead.model_rebuild(force=True)
    Spec.model_rebuild(force=True)


def _rebuild_task_names() -> None:
    """A newly declared task joins the ``task`` choices."""
    Spec.model_rebuild(force=True)


on_new_op(_rebuild_layer_union)
on_new_task(_rebuild_task_names)
