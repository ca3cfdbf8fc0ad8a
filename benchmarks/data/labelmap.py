"""A VOC-layout folder's own class names, from the ``labelmap.txt`` in its root.

CVAT and Datumaro export a VOC-layout folder with a ``labelmap.txt`` that names its
classes, one line each, in mask-index order (background first)::

    # label:color_rgb:parts:actions
    background:0,0,0::
    road:128,64,128::

Without it, a folder of one's own would be labelled with VOC's twenty classes. Only the
names are used; the colour is checked for its form so that a line that is not a label
(a pasted palette, a shifted field) fails here, naming its line, instead of renaming a
class silently.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.data.common import DataError

__all__ = ["LABELMAP_FILE", "parse_labelmap", "read_labelmap"]

LABELMAP_FILE = "labelmap.txt"
"""The file name in the folder's root (Datumaro's and CVAT's)."""

_FORM = "name:r,g,b:parts:actions"


def _colour_ok(text: str) -> bool:
    """An empty colour, or three integers from 0 to 255 separated by commas."""
    if not text:
        return True
    parts = text.split(",")
    return len(parts) == 3 and all(p.strip().isdigit() and int(p) <= 255 for p in parts)


def _line_error(line: str) -> str | None:
    """Why ``line`` (stripped, not a comment) is no label line, or None when it is one."""
    fields = line.split(":")
    if len(fields) != 4:
        return f"{len(fields)} ':'-separated fields (expected 4)"
    name = fields[0].strip()
    if not name:
        return "no name"
    if any(ord(char) < 0x20 for char in name):
        return "a control character in the name"
    if not _colour_ok(fields[1].strip()):
        return f"colour {fields[1]!r} is not r,g,b from 0 to 255"
    return None


def parse_labelmap(text: str, path: Path) -> list[str]:
    """The names ``text`` (the contents of ``path``) lists, in order; one-line
    :class:`DataError` naming ``path:LINE`` for a malformed line or a name given twice."""
    names: list[str] = []
    first: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        why = _line_error(line)
        name = line.split(":")[0].strip()
        if why is None and name in first:
            why = f"name {name!r} is given twice (first on line {first[name]})"
        if why is not None:
            raise DataError(f"{path}:{number}: bad label line {line!r}: {why} (expected {_FORM})")
        first[name] = number
        names.append(name)
    if not names:
        raise DataError(f"{path}: lists no labels (expected one {_FORM} line per class)")
    return names


def read_labelmap(root: Path) -> list[str] | None:
    """The names ``root/labelmap.txt`` lists (index 0 is background), or None when the
    folder has no such file."""
    path = Path(root) / LABELMAP_FILE
    if not path.is_file():
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (byte offset {exc.start})") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read label map ({exc.strerror or exc})") from None
    return parse_labelmap(text, path)
