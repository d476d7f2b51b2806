"""Per-invocation state shared by every command: the global options and the service they select."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import typer

from mova_core.service import DLQService
from mova_core.settings import Settings


@dataclass
class CliState:
    """What the global options chose; builds the service lazily, once."""

    dlq_path: Path | None = None
    _service: DLQService | None = field(default=None, repr=False)

    def settings(self) -> Settings:
        return Settings(**({"dlq_path": self.dlq_path} if self.dlq_path else {}))

    def service(self, *, warn_missing: bool = True) -> DLQService:
        """The service over the chosen directory; warns on stderr when that directory does not exist."""
        if self._service is None:
            self._service = DLQService(self.settings())
            path = self._service.settings.dlq_path
            if warn_missing and not path.is_dir():
                print(
                    f"warning: dead-letter directory {path} does not exist; reading it as an empty queue "
                    "(set MOVA_DLQ_PATH or --dlq-path)",
                    file=sys.stderr,
                )
        return self._service


def get_state(ctx: typer.Context) -> CliState:
    """The CliState the root callback stored (a default one when a command is invoked alone in tests)."""
    root = ctx.find_root()
    if not isinstance(root.obj, CliState):
        root.obj = CliState()
    return root.obj
