"""The ``search:`` section: the knobs of a spec's design space (what a search may turn).

Each key is a path into the spec (``scale.width``, ``decoder.upsample``, ``stage.block2.
repeat``, ``layer.conv1_1.out``; :mod:`graphspec.search_space` says how each resolves)
and each value the values the knob may take: a list of choices, or a numeric range. The
models here only describe the section; whether a path exists and every value is valid
for it is checked against the rest of the spec when it is loaded.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StrictBool, StrictFloat, StrictInt, StrictStr, model_validator
from pydantic_core import PydanticCustomError

from graphspec.ops import Strict

__all__ = ["MAX_CHOICES", "MAX_KNOBS", "Choice", "Knobs", "NumberRange"]

MAX_KNOBS = 32
MAX_CHOICES = 100

Choice = StrictBool | StrictInt | StrictFloat | StrictStr
KnobPath = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)+$")]


class NumberRange(Strict):
    """A numeric knob: ``low`` to ``high`` inclusive, in steps of ``step`` (integers when
    ``low`` and ``high`` are), sampled on a log scale with ``log``."""

    low: StrictInt | StrictFloat
    high: StrictInt | StrictFloat
    step: StrictInt | StrictFloat | None = None
    log: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> NumberRange:
        if self.low > self.high:
            raise PydanticCustomError(
                "range",
                "low {low} is above high {high} (expected low <= high)",
                {"low": self.low, "high": self.high},
            )
        if self.step is not None and self.step <= 0:
            raise PydanticCustomError(
                "range", "step must be above 0 (got {step})", {"step": self.step}
            )
        if self.log and self.low <= 0:
            raise PydanticCustomError(
                "range", "a log range starts above 0 (got low {low})", {"low": self.low}
            )
        return self

    @property
    def integer(self) -> bool:
        """Whether the knob takes integers (both ends are integers)."""
        return isinstance(self.low, int) and isinstance(self.high, int)


Knobs = Annotated[
    dict[
        KnobPath, Annotated[list[Choice], Field(min_length=1, max_length=MAX_CHOICES)] | NumberRange
    ],
    Field(max_length=MAX_KNOBS),
]
"""``search:``: knob path -> choices or a range."""
