"""Option groups: a class of `Annotated` options that a command takes as one parameter.

Typer makes one option of each parameter, so the seven list filters or the bulk-run options
would be spelled out again in every command that takes them, and a command such as
`mova dlq retry` would have two dozen parameters. `@with_option_groups` lets a command take an
`OptionGroup` instead: Typer sees the group's attributes as the command's options, in the
group's place in the signature, and the command receives one instance holding what was given.

Plain classes rather than dataclasses, and annotations that are objects rather than strings
(no `from __future__ import annotations` where groups are declared or taken): every command is
built when `mova --help` starts, so this runs on every start-up.
"""

import functools
import inspect
import typing
from collections.abc import Callable
from typing import Any, TypeVar

from typer.models import OptionInfo

F = TypeVar("F", bound=Callable[..., Any])


class OptionGroup:
    """Base of the option groups: each annotated class attribute is an `Annotated` Typer option and its default."""

    def __init__(self, **values: Any) -> None:
        for name, default in self.defaults().items():
            setattr(self, name, values.pop(name, default))
        if values:
            raise TypeError(f"{type(self).__name__}: unknown option(s) {', '.join(sorted(values))}")

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.defaults())
        return f"{type(self).__name__}({shown})"

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """The group's options by attribute name, with their defaults."""
        return {name: getattr(cls, name) for name in cls.__annotations__}

    @classmethod
    def parameters(cls) -> list[inspect.Parameter]:
        """The group's options as keyword parameters, for a command's signature."""
        return [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                                  annotation=cls.__annotations__[name])
                for name, default in cls.defaults().items()]

    def changed(self) -> list[str]:
        """The options given a value other than their default, by their first flag (`--dry-run`)."""
        out = []
        for name, default in self.defaults().items():
            if getattr(self, name) != default:
                out.append(_first_flag(type(self).__annotations__[name], name))
        return out


def _first_flag(annotation: Any, name: str) -> str:
    """`--dry-run` for `Annotated[bool, typer.Option("--dry-run")]` (in `Annotated`, Typer's first
    positional argument is the first flag, kept as the OptionInfo's `default`)."""
    info = next(m for m in annotation.__metadata__ if isinstance(m, OptionInfo))
    flags = [d for d in (info.default, *(info.param_decls or ())) if isinstance(d, str) and d.startswith("-")]
    return flags[0].split("/")[0] if flags else f"--{name.replace('_', '-')}"


def with_option_groups(command: F) -> F:
    """Expand each parameter annotated with an `OptionGroup` into the group's options (see the module)."""
    signature = inspect.signature(command)
    if any(isinstance(p.annotation, str) for p in signature.parameters.values()):
        hints = typing.get_type_hints(command, include_extras=True)
        signature = signature.replace(parameters=[p.replace(annotation=hints.get(p.name, p.annotation))
                                                  for p in signature.parameters.values()])
    parameters: list[inspect.Parameter] = []
    groups: dict[str, type[OptionGroup]] = {}
    for param in signature.parameters.values():
        if isinstance(param.annotation, type) and issubclass(param.annotation, OptionGroup):
            groups[param.name] = param.annotation
            parameters += param.annotation.parameters()
        else:
            parameters.append(param.replace(kind=inspect.Parameter.KEYWORD_ONLY))
    names = [p.name for p in parameters]
    if len(names) != len(set(names)):
        raise TypeError(f"{command.__name__}: an option group repeats a parameter name")

    @functools.wraps(command)
    def expanded(**given: Any) -> Any:
        for name, group in groups.items():
            given[name] = group(**{option: given.pop(option) for option in group.defaults()})
        return command(**given)

    expanded.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    expanded.__annotations__ = {p.name: p.annotation for p in parameters}
    return expanded  # type: ignore[return-value]
