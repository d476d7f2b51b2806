"""Text from entries, files and the network, made safe to show: no Rich markup, no terminal controls.

Entry files come from other writers, file names from anyone who can write to the directory, error
text from remote servers; any of them may hold `[bold]`-like markup or escape sequences (`ESC ]2;`
sets the terminal's title). Every face (the CLI, the dashboard) passes such text through `clean`
before it prints it, and builds Rich `Text` from the result, which is never parsed as markup.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, TypeVar

T = TypeVar("T")

if TYPE_CHECKING:  # rich is loaded by the commands that print, not by `mova --help`
    from rich.text import Text

# C0 controls but TAB and LF, DEL and C1 (ESC, and CSI as one byte, start terminal sequences);
# bidirectional marks, embeddings, overrides and isolates (they reorder what the operator reads);
# Unicode line and paragraph separators (some terminals break lines at them); lone surrogates
# (they cannot be written to a UTF-8 terminal).
_CONTROLS = "\x00-\x08\x0b-\x1f\x7f-\x9f"
_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_OTHERS = "\u2028\u2029\ud800-\udfff"
_UNSAFE = re.compile(f"[{_CONTROLS}{_BIDI}{_OTHERS}]")
# On one line (an id, a type, a file name, a table row), TAB and LF would split or shift it.
_UNSAFE_ON_ONE_LINE = re.compile(f"[\t\n{_CONTROLS}{_BIDI}{_OTHERS}]")
_SHORT_ESCAPES = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    return _SHORT_ESCAPES.get(char) or f"\\u{ord(char):04x}"


def clean(value: object, *, one_line: bool = False) -> str:
    """`value` as text with every control shown as an escape (`\\u001b`, `\\r`); `one_line` escapes `\\n` and `\\t` too.

    Multi-line text (an error, a stack trace) keeps its line breaks; CRLF counts as one.
    """
    text = str(value)
    if one_line:
        return _UNSAFE_ON_ONE_LINE.sub(_escape, text)
    return _UNSAFE.sub(_escape, text.replace("\r\n", "\n"))


def cell(value: object) -> Text:
    """A table cell: one line, never parsed as Rich markup, never a control character (Text is kept as built)."""
    from rich.text import Text

    return value if isinstance(value, Text) else Text(clean(value, one_line=True))


#: Beyond this, a text from an entry is cut in the entry view (`mova dlq show` and the dashboard's
#: details): laying out megabytes of error text freezes a screen and floods a terminal.
CLIP_CHARS = 20_000
#: Where the whole text is, named in the note that ends a cut text.
WHOLE = "mova dlq show ID --format json"


def clip(value: object, limit: int = CLIP_CHARS, *, whole: str = WHOLE, one_line: bool = False) -> str:
    """`clean(value)`, cut to `limit` characters with a note of how much was left out and where it all is."""
    text = str(value)
    if len(text) > limit:
        text = text[:limit] + f"… ({len(text) - limit:,} more characters: {whole})"
    return clean(text, one_line=one_line)


def clip_all(values: Iterable[T], limit: int = CLIP_CHARS, size: Callable[[T], int] = lambda v: len(str(v)),
             ) -> tuple[list[T], int]:
    """The first `values` whose text fits in `limit` characters together (at least one), and how many are left out.

    A list of texts (error history, variables, results) gets one budget, so a thousand long lines
    are cut as one long text is.
    """
    shown: list[T] = []
    used = left = 0
    for value in values:
        if left or (shown and used + size(value) > limit):
            left += 1
            continue
        shown.append(value)
        used += size(value)
    return shown, left
