"""Values typed by an operator (`--var timeout=60`, a dashboard field): JSON when it parses, else text."""

from __future__ import annotations

from typing import Any

from mova_core.model.errors import InvalidInput
from mova_core.model.nesting import too_deep_message


def value_from_text(text: str, where: str = "a JSON value") -> Any:
    """`60`, `true`, `[1, 2]`, `{"a": 1}` and `"quoted"` are JSON; anything else is the text as typed.

    JSON deeper than the parser's stack is InvalidInput naming `where`; a value within it but past
    the limit is refused where it is used (the overrides and envelope models name the variable).
    """
    import json  # here: `mova --help` parses no JSON

    stripped = text.strip()
    if not stripped:
        return text
    try:
        return json.loads(stripped)
    except ValueError:
        return text
    except RecursionError:
        raise InvalidInput(too_deep_message(where)) from None
