"""Action types: the built-ins and a registry that installed packages extend.

A package adds a type by subclassing `ActionType` and either calling `register(MyAction)` or
declaring an entry point in the `mova.actions` group:

    [project.entry-points."mova.actions"]
    slack_post = "my_pkg.actions:SlackPost"

The names a plugin needs are importable from here, the action errors included (their home is
`mova_core.engine.errors`).
"""

from __future__ import annotations

from importlib.metadata import entry_points

from mova_core.engine.actions.base import ActionContext, ActionType, ParamsModel
from mova_core.engine.actions.http_fetch import HttpFetch
from mova_core.engine.actions.parse_json import ParseJson
from mova_core.engine.actions.print import Print
from mova_core.engine.actions.set import SetVariable
from mova_core.engine.actions.sleep import Sleep
from mova_core.engine.errors import (
    ActionError,
    ActionTimeout,
    InvalidActionConfig,
    NonRetryableError,
)

ENTRY_POINT_GROUP = "mova.actions"
BUILTINS: tuple[type[ActionType], ...] = (HttpFetch, SetVariable, Print, ParseJson, Sleep)


class ActionRegistry:
    """Maps an envelope's `type` to an ActionType instance."""

    def __init__(self, types: tuple[type[ActionType], ...] = BUILTINS, *, entry_points_group: str | None = None):
        self._types: dict[str, ActionType] = {}
        for cls in types:
            self.register(cls)
        self._group = entry_points_group
        self._loaded = entry_points_group is None

    def register(self, action: type[ActionType] | ActionType, name: str | None = None) -> None:
        """Add (or replace) a type; `name` defaults to the class's `name`."""
        instance = action() if isinstance(action, type) else action
        key = name or instance.name
        if not key:
            raise ValueError(f"{action!r} has no `name`; set it or pass name=")
        self._types[key] = instance

    def _load_entry_points(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        for ep in entry_points(group=self._group or ENTRY_POINT_GROUP):
            if ep.name in self._types:
                continue  # a built-in is not silently replaced by an installed package
            try:
                self.register(ep.load(), name=ep.name)
            except Exception:  # a broken plugin must not stop the built-ins from working
                continue

    def get(self, name: str) -> ActionType:
        """The type registered under `name`; InvalidActionConfig listing the known ones."""
        self._load_entry_points()
        try:
            return self._types[name]
        except KeyError:
            raise InvalidActionConfig(
                f"unknown action type {name!r}; known types: {', '.join(self.names())}"
            ) from None

    def names(self) -> list[str]:
        """Every registered type name, sorted."""
        self._load_entry_points()
        return sorted(self._types)

    def __contains__(self, name: object) -> bool:
        self._load_entry_points()
        return name in self._types


_default: ActionRegistry | None = None


def default_registry() -> ActionRegistry:
    """The process-wide registry: built-ins plus the `mova.actions` entry points."""
    global _default
    if _default is None:
        _default = ActionRegistry(entry_points_group=ENTRY_POINT_GROUP)
    return _default


def register(action: type[ActionType], name: str | None = None) -> type[ActionType]:
    """Register a type in the default registry; usable as a class decorator."""
    default_registry().register(action, name)
    return action


__all__ = [
    "ActionContext",
    "ActionError",
    "ActionRegistry",
    "ActionTimeout",
    "ActionType",
    "BUILTINS",
    "ENTRY_POINT_GROUP",
    "InvalidActionConfig",
    "NonRetryableError",
    "ParamsModel",
    "default_registry",
    "register",
]
