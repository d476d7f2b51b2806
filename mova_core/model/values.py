"""Values typed by an operator (`--var timeout=60`, a dashboard field): JSON when it parses, else text."""

from __future__ import annotations

from typing import Any


def value_from_text(text: str) -> Any:
    """`60`, `true`, `[1, 2]`, `{"a": 1}` and `"quoted"` are JSON; anything else is the text as typed."""
    import json  # here: `mova --help` parses no JSON

    stripped = text.strip()
    if not stripped:
        return text
    try:
        return json.loads(stripped)
    except ValueError:
        return text
