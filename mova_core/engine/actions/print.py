"""`print`: write a message to the run's log (and to whoever follows the run)."""

from __future__ import annotations

from typing import Any, Literal

from mova_core.engine.actions.base import ActionContext, ActionType, ParamsModel


class PrintParams(ParamsModel):
    """`message` (text; objects are logged as JSON) and an optional `level`."""

    message: Any
    level: Literal["debug", "info", "warning", "error"] = "info"


class Print(ActionType):
    """Logs a message; never fails."""

    name = "print"
    Params = PrintParams

    def run(self, params: PrintParams, ctx: ActionContext) -> Any:
        message = params.message if isinstance(params.message, str) else _json(params.message)
        ctx.log(message, level=params.level, printed=True)
        return {"message": message}


def _json(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False, default=str)
