"""Retry one entry or a frozen selection: sandbox (the default) or production, with overrides."""

from __future__ import annotations

import json
from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import (
    Button,
    Input,
    Label,
    Static,
    TabbedContent,
    TabPane,
    TextArea,
)

from mova_core.model.entry import RetryOverrides
from mova_core.model.errors import InvalidInput
from mova_core.model.nesting import too_deep_message
from mova_tui.app.widgets.overrides_editor import OverridesEditor
from mova_tui.present.text import short_id


@dataclass
class RetryRequest:
    """What the operator chose: the mode and the overrides."""

    ids: list[str]
    sandbox_mode: bool
    overrides: RetryOverrides | None


def parse_json_object(text: str) -> tuple[dict | None, str | None]:
    """A JSON object from the editor, or the error to show (with line and column)."""
    if not text.strip():
        return {}, None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
    except RecursionError:
        return None, too_deep_message("variable overrides")
    if not isinstance(value, dict):
        return None, "variable overrides must be a JSON object, e.g. {\"api_url\": \"https://…\"}"
    return value, None


class RetryModal(ModalScreen[RetryRequest | None]):
    """Overrides editor and the two retry buttons; production asks for confirmation."""

    CSS_PATH = "modals.tcss"
    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "sandbox", "Retry in sandbox"),
    ]

    def __init__(self, ids: list[str]) -> None:
        super().__init__()
        self.ids = list(ids)

    def compose(self) -> ComposeResult:
        if len(self.ids) == 1:
            title = f"Retry {self.ids[0]}"
        else:
            title = f"Retry {len(self.ids):,} selected entries"
        with Vertical(id="dialog", classes="retry"):
            yield Label(title, classes="title")
            if len(self.ids) > 1:
                shown = ", ".join(short_id(i) for i in self.ids[:6]) + (" …" if len(self.ids) > 6 else "")
                yield Static(f"[dim]{shown} — the same overrides apply to each, one after another.[/]")
            yield Static(
                "[dim]Sandbox: isolated run, allow-listed hosts only, no production secrets.[/]", classes="hint"
            )
            with VerticalScroll(id="retry-body"):
                yield Label("Variable overrides", classes="section")
                with TabbedContent(id="vars-mode"):
                    with TabPane("Key / value", id="vars-rows"):
                        yield OverridesEditor(id="vars", add_label="+ Add variable")
                    with TabPane("JSON", id="vars-json-pane"):
                        yield TextArea("{}", id="vars-json", soft_wrap=True, show_line_numbers=False)
                yield Static("", id="vars-error", classes="error")
                yield Label("Secret overrides [dim](masked; kept in memory only)[/]", classes="section")
                yield OverridesEditor(id="secrets", password=True, add_label="+ Add secret")
                yield Static("", id="secrets-error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Retry in sandbox", variant="primary", id="sandbox")
                yield Button("Retry in production", variant="warning", id="production")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#sandbox", Button).focus()
        self._ready = False
        self.call_after_refresh(self._set_ready)

    def _set_ready(self) -> None:
        self._ready = True

    # -- validation -----------------------------------------------------------------------------
    def _json_mode(self) -> bool:
        return self.query_one("#vars-mode", TabbedContent).active == "vars-json-pane"

    def read_overrides(self) -> tuple[RetryOverrides | None, list[str], list[str]]:
        """The overrides typed so far and the errors for the variables and the secrets."""
        try:
            if self._json_mode():
                variables, error = parse_json_object(self.query_one("#vars-json", TextArea).text)
                var_errors = [error] if error else []
            else:
                variables, var_errors = self.query_one("#vars", OverridesEditor).read()
            secrets, secret_errors = self.query_one("#secrets", OverridesEditor).read()
            if var_errors or secret_errors:
                return None, var_errors, secret_errors
            return RetryOverrides(variables=variables or {}, secrets=secrets), [], []
        except InvalidInput as exc:  # nested too deeply: the message names the override
            errors = [str(exc)]
            return (None, [], errors) if "overrides.secrets." in errors[0] else (None, errors, [])

    def _validate(self) -> RetryOverrides | None | bool:
        overrides, var_errors, secret_errors = self.read_overrides()
        self.query_one("#vars-error", Static).update("\n".join(var_errors))
        self.query_one("#secrets-error", Static).update("\n".join(secret_errors))
        if var_errors or secret_errors:
            return False
        assert overrides is not None
        return overrides if (overrides.variables or overrides.secrets) else None

    @on(Input.Changed)
    @on(TextArea.Changed)
    def _changed(self) -> None:
        if getattr(self, "_ready", False):
            self._validate()

    @on(TabbedContent.TabActivated, "#vars-mode")
    def _mode_switched(self, event: TabbedContent.TabActivated) -> None:
        # Carry what was typed across: rows → JSON text, or JSON text → rows when it is valid.
        if event.pane.id == "vars-json-pane":
            values, errors = self.query_one("#vars", OverridesEditor).read()
            if not errors:
                self.query_one("#vars-json", TextArea).text = json.dumps(values, indent=2) if values else "{}"
        else:
            values, error = parse_json_object(self.query_one("#vars-json", TextArea).text)
            if error is None and values is not None:
                self.query_one("#vars", OverridesEditor).set_values(values)
        self._validate()

    # -- buttons --------------------------------------------------------------------------------
    @on(Button.Pressed, "#sandbox")
    def action_sandbox(self) -> None:
        overrides = self._validate()
        if overrides is not False:
            self.dismiss(RetryRequest(self.ids, True, overrides))  # type: ignore[arg-type]

    @on(Button.Pressed, "#production")
    def action_production(self) -> None:
        from mova_tui.app.modals.confirm_modal import ConfirmModal

        overrides = self._validate()
        if overrides is False:
            return
        what = self.ids[0] if len(self.ids) == 1 else f"{len(self.ids):,} entries"

        def confirmed(ok: bool | None) -> None:
            if ok:
                self.dismiss(RetryRequest(self.ids, False, overrides))  # type: ignore[arg-type]

        self.app.push_screen(
            ConfirmModal(
                f"Retry {what} in production?",
                "The workflow will run against real systems, with production secrets. "
                "Retry in the sandbox first if you are testing a fix.",
                confirm_label="Retry in production",
                variant="warning",
            ),
            confirmed,
        )

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
