"""Where the SQL of a cell magic's cell is, and where the cursor is in it.

Plain text work with nothing imported: IPython asks every matcher on every completion request,
in every cell, so telling a ``%%bqml`` cell from Python must cost next to nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_MAGIC_LINE = re.compile(r"%%(\w+)")
"""IPython's rule: a cell magic's name starts the cell's first line that is not blank."""


@dataclass(frozen=True)
class MagicCell:
    """A cell magic's body (the text after its ``%%name ...`` line) with the cursor in it."""

    magic: str
    body: str
    cursor: int


def magic_cell(text: str, line: int, column: int) -> MagicCell | None:
    """The cell's body when ``text`` is a cell magic's cell and the cursor (0-based ``line`` and
    ``column``, as IPython gives them) is in the body, not on the magic's line."""
    lines = text.split("\n")
    first = next((number for number, content in enumerate(lines) if content.strip()), None)
    if first is None or line <= first:
        return None
    match = _MAGIC_LINE.match(lines[first])
    if match is None:
        return None
    body = lines[first + 1 :]
    cursor = sum(len(content) + 1 for content in body[: line - first - 1]) + column
    return MagicCell(match.group(1), "\n".join(body), cursor)
