"""The sandbox's detailed logging, visible in `mova dlq retry --wait`: under each log line of the run
(`params`, `request`, `response`, `attempt timing`, `sandbox run`), one more line with what it carries.

The event lines themselves are the shared ones (`present.events`); this adds their fields, which
the engine has already redacted and which are masked again for display. The whole log, one JSON
object per event, is in the run's log (`DLQService.run_log_location`: a file, or rows over PostgreSQL).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rich.text import Text

from mova_tui.present.redaction import masked
from mova_tui.present.text import shorten

if TYPE_CHECKING:
    from rich.console import Console

    from mova_core.ops.retry import Event

#: A value shown in a detail line is cut here (the log file has it whole).
VALUE_WIDTH = 300


def _json(value: Any) -> str:
    return shorten(json.dumps(masked(value), ensure_ascii=False, default=str), VALUE_WIDTH)


def _sandbox_run(f: dict[str, Any]) -> str:
    return (f"may reach {', '.join(map(str, f.get('allowed_hosts') or ['loopback']))}; "
            f"secrets: {', '.join(map(str, f.get('secret_names') or [])) or 'none'}; "
            f"variables {_json(f.get('variables') or {})}")


def _request(f: dict[str, Any]) -> str:
    line = f"{f.get('method', '')} {f.get('url', '')}"
    for key in ("query", "headers"):
        if f.get(key):
            line += f"  {key} {_json(f[key])}"
    return line


def _response(f: dict[str, Any]) -> str:
    line = f"{f.get('status', '?')} in {f.get('elapsed_ms', '?')} ms"
    if f.get("body_preview"):
        line += f"  body {shorten(str(masked(f['body_preview'])), VALUE_WIDTH)}"
    return line


def _other(f: dict[str, Any]) -> str:
    return "  ".join(f"{key} {_json(value)}" for key, value in f.items())


_DETAILS: dict[str, Callable[[dict[str, Any]], str]] = {
    "sandbox run": _sandbox_run,
    "params": lambda f: _json(f.get("params")),
    "request": _request,
    "response": _response,
    "attempt timing": lambda f: f"{float(f.get('seconds') or 0) * 1000:.1f} ms",
}


def detail_line(event: Event) -> Text | None:
    """The fields of a detailed log line, on one dim line; None for other events and lines with no fields."""
    if getattr(event, "kind", None) != "log":
        return None
    fields = {k: v for k, v in dict(getattr(event, "fields", None) or {}).items() if k != "attempt"}
    if not fields:
        return None
    describe = _DETAILS.get(str(event.message), _other)
    return Text("      " + shorten(describe(fields), 2000), style="dim")


class DetailPrinter:
    """An `on_event` callback that prints each event's shared line (`printer`), then its detail line."""

    def __init__(self, printer: Callable[[Event], None], console: Console):
        self.printer, self.console = printer, console

    def __call__(self, event: Event) -> None:
        self.printer(event)
        line = detail_line(event)
        if line is not None:
            self.console.print(line, soft_wrap=True)
