"""Key/value rows for a retry: the entry's own variables (editable values), added variables, or masked secrets."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Static

from mova_core.model.values import value_from_text
from mova_tui.present.safe_text import clean

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


def parse_value(text: str) -> Any:
    """A variable value: JSON when it parses (60, true, [1, 2], {"a": 1}, "quoted"), else the text."""
    return value_from_text(text) if text.strip() else ""


def format_value(value: Any) -> str:
    """The inverse of parse_value for showing a value in a row."""
    return value if isinstance(value, str) and parse_value(value) == value else json.dumps(value)


class OverrideRow(Horizontal):
    """One name and one value. A row for one of the entry's own variables (`original` given) keeps its
    name and its button puts the original value back; any other row's button removes it."""

    def __init__(self, key: str = "", value: str = "", *, password: bool = False, original: str | None = None) -> None:
        super().__init__(classes="override-row")
        self._key, self._value, self._password, self.original = key, value, password, original

    def compose(self) -> ComposeResult:
        if self.original is None:
            yield Input(self._key, placeholder="name", classes="key", compact=True)
        else:
            yield Static(clean(self._key), classes="key fixed", markup=False)
        yield Input(self._value, placeholder="value" if not self._password else "secret value",
                    password=self._password, classes="value", compact=True)
        if self.original is None:
            yield Button("✕", classes="remove", compact=True, tooltip="Remove this row")
        else:
            yield Button("↺", classes="reset", compact=True, tooltip="Put the entry's own value back")

    def on_mount(self) -> None:
        self._mark()

    @property
    def pair(self) -> tuple[str, str]:
        """The name and the value text as typed."""
        keys, values = self.query("Input.key").results(Input), self.query(".value").results(Input)
        key, value = next(keys, None), next(values, None)
        # Before compose has run (a Changed event during mounting), the row holds its initial text.
        return (key.value if key else self._key), (value.value if value else self._value)

    @property
    def changed(self) -> bool:
        """An own variable whose value differs from the entry's."""
        return self.original is not None and parse_value(self.pair[1]) != parse_value(self.original)

    @on(Input.Changed, ".value")
    def _mark(self) -> None:
        self.set_class(self.changed, "-changed")

    @on(Button.Pressed, ".remove")
    def _remove(self, event: Button.Pressed) -> None:
        event.stop()
        self.remove()

    @on(Button.Pressed, ".reset")
    def _reset(self, event: Button.Pressed) -> None:
        event.stop()
        assert self.original is not None
        self.query_one(".value", Input).value = self.original


class OverridesEditor(Vertical):
    """Rows and an "add" button; `read()` returns the mapping and any errors.

    `originals`: the entry's own variables, one fixed-name row each, pre-filled. `names`: rows with
    these names and no value yet (the secrets an envelope uses). A secret row without a value is
    not an override.
    """

    def __init__(self, *, password: bool = False, add_label: str = "+ Add", originals: Mapping[str, Any] | None = None,
                 names: Iterable[str] = (), **kwargs) -> None:
        super().__init__(**kwargs)
        self.password = password
        self.add_label = add_label
        self.originals = {k: format_value(v) for k, v in (originals or {}).items()}
        self.names = list(names)

    def compose(self) -> ComposeResult:
        yield from self._rows(dict(self.originals))
        yield Button(self.add_label, classes="add", compact=True)

    def _rows(self, values: Mapping[str, str]) -> list[OverrideRow]:
        rows = [OverrideRow(k, values.get(k, v), original=v, password=self.password) for k, v in self.originals.items()]
        rows += [OverrideRow(k, v, password=self.password) for k, v in values.items() if k not in self.originals]
        rows += [OverrideRow(name, password=self.password) for name in self.names if name not in values]
        return rows or [OverrideRow(password=self.password)]

    @on(Button.Pressed, ".add")
    def _add(self, event: Button.Pressed) -> None:
        event.stop()
        row = OverrideRow(password=self.password)
        self.mount(row, before=self.query_one(".add"))
        self.call_after_refresh(lambda: row.query_one(".key", Input).focus())

    def set_values(self, values: Mapping[str, Any]) -> None:
        """Show these values: the own variables keep their rows (their original value if left out)."""
        for row in self.query(OverrideRow):
            row.remove()
        self.names = []
        self.mount_all(self._rows({k: format_value(v) for k, v in values.items()}), before=self.query_one(".add"))

    def read(self) -> tuple[dict[str, Any], list[str]]:
        """The mapping typed so far, and what is wrong with it (blank rows are ignored)."""
        out: dict[str, Any] = {}
        errors: list[str] = []
        for n, row in enumerate(self.query(OverrideRow), 1):
            key, value = row.pair
            key = key if row.original is not None else key.strip()
            if not value and (not key or self.password):
                continue  # an empty row, or a secret named but not given
            if not key:
                errors.append(f"row {n}: a value without a name")
                continue
            if row.original is None and not _KEY.match(key):  # the entry's own names are its own
                errors.append(f"row {n}: {key!r} is not a valid name (letters, digits, _ . -)")
                continue
            if key in out:
                errors.append(f"row {n}: {key!r} is given twice")
                continue
            out[key] = value if self.password else parse_value(value)
        return out, errors
