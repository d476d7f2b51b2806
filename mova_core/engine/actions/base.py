"""What an action type is and what it gets to run (how it says an attempt failed: `engine.errors`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from mova_core.engine.errors import InvalidActionConfig
from mova_core.model.policy import validation_messages
from mova_core.model.references import has_template

if TYPE_CHECKING:
    import httpx

    from mova_core.engine.context import RunContext
    from mova_core.model.redact import Redactor


class ParamsModel(BaseModel):
    """Base for an action's params: unknown params are an error (they are usually typos)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


@dataclass
class ActionContext:
    """What an action may use while it runs: variables, the run context, time, logging, HTTP."""

    run_id: str
    action_id: str
    action_type: str
    attempt: int
    variables: dict[str, Any]
    run_context: RunContext
    sleep: Callable[[float], None]
    now: Callable[[], datetime]
    log: Callable[..., None]
    redactor: Redactor
    deadline: datetime | None = None
    http_transport: httpx.BaseTransport | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    def remaining(self) -> float | None:
        """Seconds left before the action's or workflow's timeout, or None if unbounded."""
        if self.deadline is None:
            return None
        return (self.deadline - self.now()).total_seconds()


class ActionType:
    """An action type: validates its params and runs one attempt. Subclass and register it."""

    #: The `type` written in envelopes.
    name: ClassVar[str] = ""
    #: The params model; templates are resolved before it is applied.
    Params: ClassVar[type[BaseModel]] = ParamsModel

    def check(self, params: dict[str, Any], where: str = "params") -> list[str]:
        """Problems visible before the run, as `path: message` lines (templated values skipped)."""
        try:
            self.Params.model_validate(params)
        except ValidationError as exc:
            # A templated value is known only at run time; judge the rest now.
            real = [e for e in exc.errors() if not has_template(e.get("input"))]
            return validation_messages(real, where)
        return self.check_values(params, where)

    def check_values(self, params: dict[str, Any], where: str) -> list[str]:
        """Extra static checks beyond the params model; override when useful."""
        return []

    def parse(self, params: dict[str, Any], where: str = "params") -> BaseModel:
        """The rendered params as the model; InvalidActionConfig naming the bad fields."""
        try:
            return self.Params.model_validate(params)
        except ValidationError as exc:
            raise InvalidActionConfig(
                f"invalid {self.name} params: " + "; ".join(validation_messages(exc, where))
            ) from None

    def run(self, params: Any, ctx: ActionContext) -> Any:
        """Run one attempt and return the action's output; raise ActionError on failure."""
        raise NotImplementedError
