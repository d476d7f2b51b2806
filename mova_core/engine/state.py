"""The state one run carries from action to action."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mova_core.engine.context import RunContext
from mova_core.model.entry import Envelope, ExecutionContext


@dataclass
class RunState:
    """A run's envelope and context, its variables (changed by `set` and `parse_json`), the outputs
    of the actions so far, and the execution context the record and the entry show."""

    run_id: str
    envelope: Envelope
    context: RunContext
    variables: dict[str, Any]
    execution: ExecutionContext
    started: datetime
    deadline: datetime | None
    #: Every output whole, in memory, for later templates; redacted whenever written.
    outputs: dict[str, Any] = field(default_factory=dict)

    def scope(self) -> dict[str, Any]:
        """What `{{ ... }}` templates may name."""
        return {
            "variables": self.variables,
            "secrets": self.context.secrets,
            "payload": self.envelope.payload,
            "results": self.outputs,
        }
