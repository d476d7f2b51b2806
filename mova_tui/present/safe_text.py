"""Text from entry files, made safe to show: no Rich markup, no terminal control characters.

Entry files come from other writers; a workflow type or an error message may hold `[bold]`-like
markup or escape sequences. Both faces (the CLI and the dashboard) pass such text through here.
"""

from __future__ import annotations

import re
from typing import Any

from rich.text import Text

# Control characters and bidirectional overrides from an entry file must not reach the terminal
# (they could move the cursor, recolour the screen or reorder what the operator reads).
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def clean(value: Any) -> str:
    """Text from an entry, with unsafe characters shown as escapes (`\\u001b`)."""
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", str(value))


def cell(value: Any) -> Text:
    """A table cell from entry data: never parsed as Rich markup, never a control character."""
    return value if isinstance(value, Text) else Text(clean(value))


#: Beyond this, text from an entry is cut in the dashboard's detail view: laying out megabytes of
#: error text would freeze the screen, and `mova dlq show ID --format json` has it all.
CLIP_CHARS = 20_000


def clip(value: Any, limit: int = CLIP_CHARS) -> str:
    """`clean(value)`, cut to `limit` characters with a note of how much was left out."""
    text = str(value)
    if len(text) > limit:
        text = text[:limit] + f"… ({len(text) - limit:,} more characters: mova dlq show ID --format json)"
    return clean(text)
