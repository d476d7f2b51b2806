"""What several `mova dlq` commands share: the warning for unreadable files."""

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
    warn(f"skipped {len(skipped)} unreadable {noun} in {directory}: {first.name} ({first.reason}){more}; "
         "`mova dlq reindex` lists them")
