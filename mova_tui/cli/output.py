"""Where output goes and how errors end a command: consoles, JSON documents, exit codes.

Data goes to stdout, messages and progress to stderr. Every error the core raises on purpose
(`MovaError`) is turned into one line and an exit code here, and only here (`MovaGroup`).
"""

from __future__ import annotations

import os
import sys
from typing import Any, NoReturn

import typer
from typer.core import TyperGroup
from typer.exceptions import TyperException

from mova_core.model.errors import (
    AlreadyRetrying,
    AmbiguousId,
    CorruptEntry,
    EntryNotFound,
    InvalidId,
    InvalidInput,
    InvalidTransition,
    MovaError,
    StoreError,
)

#: Exit codes: 0 success; 1 the operation failed (unknown id, conflict, failed retry, breached
#: alert, ...); 2 the command line or an input document is wrong; 130 interrupted.
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

# Ordered: the first matching class decides (PolicyError is an InvalidInput).
_EXIT_CODES: list[tuple[type[MovaError], int]] = [
    (InvalidInput, EXIT_USAGE),
    (InvalidId, EXIT_USAGE),
    (EntryNotFound, EXIT_FAILED),
    (AmbiguousId, EXIT_FAILED),
    (InvalidTransition, EXIT_FAILED),
    (AlreadyRetrying, EXIT_FAILED),
    (CorruptEntry, EXIT_FAILED),
    (StoreError, EXIT_FAILED),
]


def examples(*lines: str) -> str:
    """A command's --help epilog: its examples, one per line.

    The help is Click's plain text (`rich_markup_mode=None`): Typer's Rich help loads Markdown and
    panel rendering, which makes `mova --help` much slower (benchmarks/README.md). `\\b` keeps the
    lines as written instead of rewrapped.
    """
    return "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines)


def exit_code_for(exc: BaseException) -> int:
    """The exit code for an error raised by a command."""
    for cls, code in _EXIT_CODES:
        if isinstance(exc, cls):
            return code
    return EXIT_FAILED


def _is_terminal(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def console(*, err: bool = False):
    """A Rich console on stdout (or stderr), plain when NO_COLOR is set or the stream is not a terminal."""
    from rich.console import Console

    stream = sys.stderr if err else sys.stdout
    terminal = _is_terminal(stream)
    color = terminal and not os.environ.get("NO_COLOR")
    # Not a terminal: 80 columns unless COLUMNS says otherwise, so piped output is reproducible.
    columns = os.environ.get("COLUMNS", "")
    width = None if terminal else (int(columns) if columns.isdigit() and int(columns) > 0 else 80)
    return Console(
        file=stream,
        no_color=not color,
        color_system="auto" if color else None,
        highlight=False,
        width=width,
        soft_wrap=False,
        emoji=False,
    )


def can_ask() -> bool:
    """True when stdin is a terminal, so a confirmation can be asked (never wait on a pipe)."""
    return _is_terminal(sys.stdin)


def _say(message: str) -> None:
    # Messages quote entry text, file names and servers' answers: no control reaches the terminal.
    from mova_tui.present.safe_text import clean  # here: `mova --help` prints no message

    print(clean(message), file=sys.stderr, flush=True)


def info(message: str) -> None:
    """A message for the user, on stderr."""
    _say(message)


def warn(message: str) -> None:
    """A warning on stderr."""
    _say(f"warning: {message}")


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    """End the command with one error line on stderr and an exit code."""
    _say(f"error: {message}")
    raise typer.Exit(code)


def dumps(data: Any, *, indent: bool = True) -> str:
    """JSON text for stdout (orjson, falling back to json for integers beyond 64 bits)."""
    import orjson  # here, not at the top: `mova --help` prints no JSON

    try:
        return orjson.dumps(data, option=orjson.OPT_INDENT_2 if indent else 0).decode()
    except TypeError:
        import json

        return json.dumps(data, indent=2 if indent else None, ensure_ascii=False)


def print_json(data: Any) -> None:
    """Print exactly one JSON document on stdout."""
    sys.stdout.write(dumps(data) + "\n")
    sys.stdout.flush()


class MovaGroup(TyperGroup):
    """The root command group: maps every error a command raises to one line and an exit code."""

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, TyperException):  # usage errors and exits: Typer reports them
            raise
        except MovaError as exc:
            fail(str(exc), exit_code_for(exc))
        except KeyboardInterrupt:
            print("\ninterrupted", file=sys.stderr)
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except BrokenPipeError:
            # `mova dlq list | head`: the reader went away; not an error worth a message. Pointing
            # stdout at devnull silences the flush at exit.
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
            raise typer.Exit(EXIT_FAILED) from None
        except OSError as exc:
            where = f" {exc.filename}" if exc.filename else ""
            fail(f"{exc.strerror or exc}{':' if where else ''}{where}")
        except Exception as exc:
            # A bug, not a user error. The traceback may hold secrets in its locals, so it is shown
            # only on request.
            if os.environ.get("MOVA_DEBUG"):
                raise
            fail(f"unexpected {type(exc).__name__}: {exc} (this is a bug; MOVA_DEBUG=1 shows the traceback)")
