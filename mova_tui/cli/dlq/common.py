"""What several `mova dlq` commands share: the warning for unreadable files, and their list."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mova_tui.cli.output import warn

if TYPE_CHECKING:
    from mova_core.model.listing import SkippedFile


def warn_skipped(skipped: list[SkippedFile], directory: Path) -> None:
    """One warning line for files in the directory that are not readable entries."""
    if not skipped:
        return
    first = skipped[0]
    more = f" and {len(skipped) - 1} more" if len(skipped) > 1 else ""
    noun = "file" if len(skipped) == 1 else "files"
    warn(f"skipped {len(skipped)} unreadable {noun} in {_line(directory)}: {_line(first.name)} ({_line(first.reason)}){more}; "
         "`mova dlq reindex` lists them")


def skipped_line(skipped: SkippedFile) -> str:
    """`name: reason` for a skipped file, on one line whatever its name holds."""
    return f"{_line(skipped.name)}: {_line(skipped.reason)}"


def _line(value: object) -> str:
    """Anyone who can write to the directory names its files: one line, no controls."""
    from mova_tui.present.safe_text import clean  # here: `mova dlq --help` loads no presentation

    return clean(value, one_line=True)
