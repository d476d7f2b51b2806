"""`sleep`: wait a bounded number of seconds (through the engine's injected sleep)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from mova_core.engine.actions.base import ActionContext, ActionType, ParamsModel
from mova_core.engine.errors import ActionTimeout

MAX_SLEEP_SECONDS = 300.0


class SleepParams(ParamsModel):
    """`seconds` (or `duration`, also in seconds), from 0 to 300."""

    seconds: float | None = Field(default=None, ge=0, le=MAX_SLEEP_SECONDS, allow_inf_nan=False)
    duration: float | None = Field(default=None, ge=0, le=MAX_SLEEP_SECONDS, allow_inf_nan=False)

    @model_validator(mode="after")
    def _one(self):
        if (self.seconds is None) == (self.duration is None):
            raise ValueError("give seconds (or duration), once")
        return self

    @property
    def wait(self) -> float:
        return self.seconds if self.seconds is not None else self.duration  # type: ignore[return-value]


class Sleep(ActionType):
    """Waits; fails with a timeout if the wait would outlast the action's or workflow's timeout."""

    name = "sleep"
    Params = SleepParams

    def run(self, params: SleepParams, ctx: ActionContext) -> Any:
        remaining = ctx.remaining()
        wait = params.wait
        if remaining is not None and wait > remaining:
            ctx.sleep(max(0.0, remaining))
            raise ActionTimeout(f"sleep of {wait:g}s outlasts the {max(0.0, remaining):g}s left")
        ctx.sleep(wait)
        return {"slept": wait}
