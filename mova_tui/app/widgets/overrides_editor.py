"""Key/value rows for retry overrides: variables (values read as JSON when they parse) or masked secrets."""

from __future__ import annotations

import json
import re
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input

from mova_core.model.values import value_from_text

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


def parse_value(text: str) -> Any:
    """A variable value: JSON when it parses (60, true, [1, 2], {"a": 1}, "quoted"), else the text."""
    return value_from_text(text) if text.strip() else ""


def format_value(value: Any) -> str:
    """The inverse of parse_value for showing a value in a row."""
    return value if isinstance(value, str) and parse_value(value) == value else json.dumps(value)


class OverrideRow(Horizontal):
    """One key and one value, with a button to remove the row."""

    def __init__(self, key: str = "", value: str = "", *, password: bool = False) -> None:
        super().__init__(classes="override-row")
        self._key, self._value, self._password = key, value, password

    def compose(self) -> ComposeResult:
        yield Input(self._key, placeholder="name", classes="key", compact=True)
        yield Input(self._value, placeholder="value" if not self._password else "secret value",
                    password=self._password, classes="value", compact=True)
        yield Button("✕", classes="remove", compact=True, tooltip="Remove this row")

    @property
    def pair(self) -> tuple[str, str]:
        keys, values = self.query(".key").results(Input), self.query(".value").results(Input)
        key, value = next(keys, None), next(values, None)
        # Before compose has run (a Changed event during mounting), the row holds its initial text.
        return (key.value if key else self._key), (value.value if value else self._value)

    @on(Button.Pressed, ".remove")
    def _remove(self, event: Button.Pressed) -> None:
        event.stop()
        self.remove()


class OverridesEditor(Vertical):
    """A list of OverrideRow and an "add" button; `read()` returns the mapping and any errors."""

    def __init__(self, *, password: bool = False, add_label: str = "+ Add", **kwargs) -> None:
        super().__init__(**kwargs)
        self.password = password
        self.add_label = add_label

    def compose(self) -> ComposeResult:
        yield OverrideRow(password=self.password)
        yield Button(self.add_label, classes="add", compact=True)

    @on(Button.Pressed, ".add")
    def _add(self, event: Button.Pressed) -> None:
        event.stop()
        row = OverrideRow(password=self.password)
        self.mount(row, before=self.query_one(".add"))
        self.call_after_refresh(lambda: row.query_one(".key", Input).focus())

    def set_values(self, values: dict[str, Any]) -> None:
        """Replace the rows with these values (one empty row when there are none)."""
        for row in self.query(OverrideRow):
            row.remove()
        rows = [OverrideRow(k, format_value(v), password=self.password) for k, v in values.items()]
        self.mount_all(rows or [OverrideRow(password=self.password)], before=self.query_one(".add"))

    def read(self) -> tuple[dict[str, Any], list[str]]:
        """The mapping typed so far, and what is wrong with it (blank rows are ignored)."""
        out: dict[str, Any] = {}
        errors: list[str] = []
        for n, row in enumerate(self.query(OverrideRow), 1):
            key, value = row.pair
            key = key.strip()
            if not key and not value:
                continue
            if not key:
                errors.append(f"row {n}: a value without a name")
                continue
            if not _KEY.match(key):
                errors.append(f"row {n}: {key!r} is not a valid name (letters, digits, _ . -)")
                continue
            if key in out:
                errors.append(f"row {n}: {key!r} is given twice")
                continue
            out[key] = value if self.password else parse_value(value)
        return out, errors
