"""`parse_json`: extract a value from JSON (text or an earlier result) by path into a variable."""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import Field

from mova_core.engine.actions.base import (
    ActionContext,
    ActionType,
    NonRetryableError,
    ParamsModel,
)


class ParseJsonParams(ParamsModel):
    """`source` (JSON text or a value), `path` (`data.items.0.id`, `$.data.items[0].id`,
    `items[*].id` for every item), `variable`, `default` (used when the path is absent)."""

    source: Any
    path: str = ""
    variable: str = Field(min_length=1)
    default: Any = None  # used only when given


def split_json_path(path: str) -> list[str]:
    """'$.data.items[0].id' -> ['data', 'items', '0', 'id']; '' or '$' -> []; `[*]` -> '*'."""
    path = path.strip()
    if path.startswith("$"):
        path = path[1:]
    return [p for p in re.split(r"\.|\[|\]", path) if p != ""]


def extract(value: Any, parts: list[str], walked: str = "$") -> Any:
    """Follow the path (`*` maps over a list); KeyError naming the first missing step."""
    for i, key in enumerate(parts):
        if key == "*" and isinstance(value, list):
            return [extract(item, parts[i + 1 :], f"{walked}[{n}]") for n, item in enumerate(value)]
        if isinstance(value, dict) and key in value:
            value = value[key]
        elif isinstance(value, list) and key.lstrip("-").isdigit() and -len(value) <= int(key) < len(value):
            value = value[int(key)]
        else:
            raise KeyError(f"{walked} has no {key!r}")
        walked += f".{key}"
    return value


class ParseJson(ActionType):
    """Parses `source` when it is text, takes the value at `path`, stores it in `variable`."""

    name = "parse_json"
    Params = ParseJsonParams
    summary = "extract a value by path into a variable: source, path, variable, default"

    def run(self, params: ParseJsonParams, ctx: ActionContext) -> Any:
        data = params.source
        if isinstance(data, (str, bytes)):
            try:
                data = json.loads(data)
            except ValueError as exc:
                raise NonRetryableError(f"parse_json: source is not valid JSON: {exc}") from None
        try:
            value = extract(data, split_json_path(params.path))
        except KeyError as exc:
            if "default" not in params.model_fields_set:
                raise NonRetryableError(f"parse_json: path {params.path!r} not found: {exc.args[0]}") from None
            value = params.default
        ctx.variables[params.variable] = value
        return {"variable": params.variable, "value": value}
