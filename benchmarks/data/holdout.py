"""The validation split of a real dataset: a fixed, held-out part of its training list.

VOC's ``val.txt`` and COCO's val annotations are what the harness reports as ``test``, so
a validation set for model selection and early stopping has to come out of the training
list instead. :func:`holdout_part` splits that list in two with a ``holdout`` fraction:

* ``holdout = 0`` (the default everywhere) keeps today's behaviour: ``train`` is the whole
  list and there is no ``val`` split (asking for one is an error, not a silent overlap);
* ``holdout = h > 0``: ``val`` is ``max(1, round(h * n))`` of the ``n`` ids and ``train``
  the others, so callers must build both splits with the same ``h`` to keep them disjoint.

Which ids are held out is decided by a salted SHA-256 of each id (the ids with the smallest
digests), not by their position, so the choice is the same in every process and does not
depend on the order of the list file; both parts keep the list's order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable, Sequence
from typing import TypeVar

from benchmarks.data.common import DataError

__all__ = ["DEFAULT_HOLDOUT", "check_holdout", "held_out_count", "holdout_part"]

DEFAULT_HOLDOUT = 0.1
"""The fraction of the training list the harness holds out when it validates."""

_SALT = b"graphspec-holdout-v1:"

T = TypeVar("T", bound=Hashable)


def check_holdout(holdout: float) -> float:
    """Validate a holdout fraction: a number in ``[0, 1)``."""
    if isinstance(holdout, bool) or not isinstance(holdout, int | float):
        raise DataError(f"holdout must be a fraction in [0, 1), got {holdout!r}")
    if not 0.0 <= holdout < 1.0:
        raise DataError(f"holdout must be a fraction in [0, 1), got {holdout}")
    return float(holdout)


def _digest(item_id: object) -> bytes:
    return hashlib.sha256(_SALT + str(item_id).encode("utf-8")).digest()


def held_out_count(total: int, holdout: float) -> int:
    """How many of ``total`` ids a ``holdout`` fraction sets aside (at least one if > 0)."""
    if holdout == 0.0:
        return 0
    return max(1, int(holdout * total + 0.5))


def holdout_part(ids: Sequence[T], split: str, holdout: float, source: object) -> list[T]:
    """The ids of ``split`` (``train`` or ``val``) when ``holdout`` of the list is held out.

    ``source`` names the list (a file) in error messages. Raises :class:`DataError` for
    ``val`` without a holdout, or when the list is too short to leave both parts non-empty.
    """
    holdout = check_holdout(holdout)
    if split == "val" and holdout == 0.0:
        raise DataError(
            f"{source}: split 'val' is held out of the training list; pass holdout > 0 "
            f"(e.g. {DEFAULT_HOLDOUT}) and build 'train' with the same holdout"
        )
    count = held_out_count(len(ids), holdout)
    if count == 0:
        return list(ids)
    if count >= len(ids):
        raise DataError(
            f"{source}: holdout {holdout} of {len(ids)} ids leaves no training ids "
            f"(need at least 2 ids)"
        )
    held = set(sorted(ids, key=_digest)[:count])  # by id: a repeated id stays on one side
    keep_held = split == "val"
    return [item for item in ids if (item in held) == keep_held]
