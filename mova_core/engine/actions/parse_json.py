"""`parse_json`: extract a value from JSON (text or an earlier result) by path into a variable."""

from __future__ import annotations

import json
from typing import Any

from pydantic import Field

from mova_core.engine.actions.base import ActionContext, ActionType, ParamsModel
from mova_core.engine.errors import NonRetryableError
from mova_core.engine.paths import PathMissing, follow, path_parts
from mova_core.model.nesting import depth_exceeds, too_deep_message


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
    return path_parts(path)


class ParseJson(ActionType):
    """Parses `source` when it is text, takes the value at `path`, stores it in `variable`."""

    name = "parse_json"
    Params = ParseJsonParams

    def run(self, params: ParseJsonParams, ctx: ActionContext) -> Any:
        data = params.source
        if isinstance(data, (str, bytes)):
            try:
                data = json.loads(data)
            except ValueError as exc:
                raise NonRetryableError(f"parse_json: source is not valid JSON: {exc}") from None
            except RecursionError:
                raise NonRetryableError(too_deep_message("parse_json: source")) from None
            if depth_exceeds(data):  # a variable must stay writable into the run's records
                raise NonRetryableError(too_deep_message("parse_json: source"))
        try:
            value = follow(data, split_json_path(params.path), "$")
        except PathMissing as missing:
            if "default" not in params.model_fields_set:
                raise NonRetryableError(f"parse_json: path {params.path!r} not found: {missing}") from None
            value = params.default
        ctx.variables[params.variable] = value
        return {"variable": params.variable, "value": value}
