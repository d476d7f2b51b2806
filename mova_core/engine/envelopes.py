"""Checking an envelope before anything runs: types, params, templates, ids, timeouts."""

from __future__ import annotations

from typing import Any, Mapping

from pydantic import ValidationError

from mova_core.engine.actions import ActionRegistry, default_registry
from mova_core.engine.templates import check_references
from mova_core.model.entry import Envelope
from mova_core.model.errors import PolicyError
from mova_core.model.nesting import MAX_VALUE_DEPTH, depth_exceeds, too_deep_message
from mova_core.model.policy import check_policy_types, policy_error, validation_messages


def check_envelope(envelope: Envelope, registry: ActionRegistry | None = None) -> list[str]:
    """Problems visible before running (types, params, templates, ids), as `path: message` lines."""
    registry = registry or default_registry()
    problems: list[str] = []
    seen: dict[str, int] = {}
    for i, action in enumerate(envelope.actions):
        where = f"actions[{i}]"
        key = action.key
        if key in seen:
            problems.append(f"{where}.id: duplicate action id {key!r} (also actions[{seen[key]}])")
        seen.setdefault(key, i)
        if action.timeout is not None and action.timeout <= 0:
            problems.append(f"{where}.timeout: must be greater than 0 seconds")
        params_path = f"{where}.{'config' if action.params is None and action.config is not None else 'params'}"
        if action.type not in registry:
            problems.append(f"{where}.type: unknown action type {action.type!r}; known types: {', '.join(registry.names())}")
        else:
            problems.extend(registry.get(action.type).check(action.arguments, params_path))
        problems.extend(check_references(action.arguments, params_path))
    timeout = getattr(envelope, "timeout", None)
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0):
        problems.append("timeout: must be a number of seconds greater than 0")
    return problems


def load_envelope(data: Any, registry: ActionRegistry | None = None) -> Envelope:
    """Validate an envelope document before anything runs; PolicyError lists `path: message` lines."""
    if not isinstance(data, Mapping):
        raise envelope_error(["(document): an envelope must be a JSON object with intent and actions"])
    # Before the model: a value nested past the limit could not be written into an entry or record.
    deep = [too_deep_message(str(key)) for key, value in data.items() if depth_exceeds(value, MAX_VALUE_DEPTH - 1)]
    if deep:
        raise envelope_error(deep)
    problems: list[str] = []  # strict type checks the lenient model would let through
    intent = data.get("intent")
    if isinstance(intent, Mapping):
        problems.extend(check_policy_types(intent.get("retry"), "intent.retry"))
    actions = data.get("actions")
    if isinstance(actions, list):
        for i, raw in enumerate(actions):
            if isinstance(raw, Mapping):
                problems.extend(check_policy_types(raw.get("retry"), f"actions[{i}].retry"))
    try:
        envelope = Envelope.model_validate(data)
    except ValidationError as exc:
        reported = {p.split(": ")[0] for p in problems}
        problems.extend(p for p in validation_messages(exc) if p.split(": ")[0] not in reported)
        raise envelope_error(problems) from None
    problems.extend(check_envelope(envelope, registry))
    if problems:
        raise envelope_error(problems)
    return envelope


def envelope_error(problems: list[str]) -> PolicyError:
    """A PolicyError for an invalid envelope, listing its problems."""
    return policy_error(problems, "invalid envelope")
