"""`set`: put a value into the run's variables."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from mova_core.engine.actions.base import ActionContext, ActionType, ParamsModel


class SetParams(ParamsModel):
    """`variable` (name) and `value` (any JSON value; templates keep their type)."""

    variable: str = Field(min_length=1)
    value: Any = None


class SetVariable(ActionType):
    """Sets `variables.<variable>` for the actions that follow."""

    name = "set"
    Params = SetParams

    def run(self, params: SetParams, ctx: ActionContext) -> Any:
        ctx.variables[params.variable] = params.value
        return {"variable": params.variable, "value": params.value}
