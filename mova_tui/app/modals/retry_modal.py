"""Retry one entry or a frozen selection: sandbox (the default) or production, with overrides.

For one entry the dialog shows its own variables, editable; the values changed (and the
variables added) are the overrides, listed before anything runs. It lists the secrets the envelope
references and what provides each. Enter in a field retries in the sandbox; production, and any
retry of several entries, asks first.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Label, Static, TabbedContent, TabPane, TextArea

from mova_core.model.entry import RetryOverrides
from mova_core.model.errors import InvalidInput
from mova_core.model.nesting import too_deep_message
from mova_tui.app.modals.confirm_modal import ConfirmModal
from mova_tui.app.retry_plan import RetryPlan, describe_overrides, variable_overrides
from mova_tui.app.widgets.overrides_editor import OverridesEditor
from mova_tui.app.widgets.secrets_needed import SecretsNeeded
from mova_tui.present.safe_text import clean
from mova_tui.present.text import short_id

SANDBOX_HINT = "Sandbox: isolated run, allow-listed hosts only, no production secrets."


@dataclass
class RetryRequest:
    """What the operator chose: the entries, the mode and the overrides."""

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
    """The entry's variables and the secrets it needs, overrides, and the two retry buttons."""

    CSS_PATH = "modals.tcss"
    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        # Enter in a field submits it, which retries in the sandbox; the footer names both keys there.
        Binding("ctrl+s", "sandbox", "Retry in sandbox", key_display="⏎/^s"),
        Binding("enter", "sandbox", "Retry in sandbox", show=False),
        Binding("ctrl+p", "production", "Retry in production"),
    ]

    def __init__(self, plan: RetryPlan) -> None:
        super().__init__()
        self.plan = plan
        self.ids = list(plan.ids)
        self._ready = False

    def compose(self) -> ComposeResult:
        plan = self.plan
        with Vertical(id="dialog", classes="retry"):
            yield Label(f"Retry {self.ids[0]}" if plan.single else f"Retry {len(self.ids):,} selected entries",
                        classes="title")
            if not plan.single:
                shown = ", ".join(short_id(i) for i in self.ids[:6]) + (" …" if len(self.ids) > 6 else "")
                yield Static(f"{shown}: the same overrides apply to each, one after another.", markup=False)
                if plan.skipped:
                    yield Static(plan.skipped_summary() + ".", id="skipped", classes="warning", markup=False)
            yield Static(SANDBOX_HINT, classes="hint", markup=False)
            # Not a tab stop itself: Tab goes from field to field, and the body follows the focus.
            with VerticalScroll(id="retry-body", can_focus=False):
                yield from self._compose_variables()
                yield Label("Secrets the envelope uses", classes="section")
                yield SecretsNeeded(id="secrets-needed")
                yield Label("Secret overrides [dim](masked; kept in memory only)[/]", classes="section")
                yield OverridesEditor(id="secrets", password=True, add_label="+ Add secret",
                                      names=[need.name for need in plan.sandbox])
                yield Static("", id="secrets-error", classes="error")
            yield Static("", id="overrides-summary", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Retry in sandbox", variant="primary", id="sandbox", compact=True)
                yield Button("Retry in production", variant="warning", id="production", compact=True)
                yield Button("Cancel", id="cancel", compact=True)
        yield Footer(compact=True)

    def _compose_variables(self) -> ComposeResult:
        own = self.plan.variables
        note = "the entry's own; a changed value is an override" if self.plan.single else "overrides for each entry"
        yield Label(f"Variables [dim]({note})[/]", classes="section")
        with TabbedContent(id="vars-mode"):
            with TabPane("Key / value", id="vars-rows"):
                yield OverridesEditor(id="vars", add_label="+ Add variable", originals=own)
            with TabPane("JSON", id="vars-json-pane"):
                yield TextArea(json.dumps(own, indent=2) if own else "{}", id="vars-json", soft_wrap=True,
                               show_line_numbers=False)
        yield Static("", id="vars-error", classes="error")

    #: No automatic first focus (it would take the tabs): `on_mount` puts it in the first value.
    AUTO_FOCUS = ""

    def on_mount(self) -> None:
        self._ready = True
        self._validate()
        # The focus starts in the first variable's value (the entry's own first, else an empty row's),
        # once the rows are on screen.
        self.call_after_refresh(lambda: self.query("#vars Input.value").first().focus())

    # -- validation -----------------------------------------------------------------------------
    def _json_mode(self) -> bool:
        return self.query_one("#vars-mode", TabbedContent).active == "vars-json-pane"

    def _typed_variables(self) -> tuple[dict[str, Any] | None, list[str]]:
        if self._json_mode():
            variables, error = parse_json_object(self.query_one("#vars-json", TextArea).text)
            return variables, [error] if error else []
        return self.query_one("#vars", OverridesEditor).read()

    def read_overrides(self) -> tuple[RetryOverrides | None, list[str], list[str]]:
        """The overrides typed so far (changed or added variables, secrets) and the errors of each part."""
        try:
            variables, var_errors = self._typed_variables()
            secrets, secret_errors = self.query_one("#secrets", OverridesEditor).read()
            if var_errors or secret_errors or variables is None:
                return None, var_errors, secret_errors
            changed = variable_overrides(variables, self.plan.variables)
            return RetryOverrides(variables=changed, secrets=secrets), [], []
        except InvalidInput as exc:  # nested too deeply: the message names the override
            errors = [str(exc)]
            return (None, [], errors) if "overrides.secrets." in errors[0] else (None, errors, [])

    def _validate(self) -> RetryOverrides | None | bool:
        """Show the errors, the overrides and the secrets' sources; False while something is wrong."""
        overrides, var_errors, secret_errors = self.read_overrides()
        self._errors("#vars-error", var_errors)
        self._errors("#secrets-error", secret_errors)
        if overrides is None:
            self.query_one("#overrides-summary", Static).update("")
            return False
        self.query_one(SecretsNeeded).show(self.plan.with_overrides(overrides.secrets, True),
                                           self.plan.with_overrides(overrides.secrets, False))
        self.query_one("#overrides-summary", Static).update("Overrides: " + self.describe(overrides))
        return overrides if (overrides.variables or overrides.secrets) else None

    def _errors(self, selector: str, errors: list[str]) -> None:
        shown = self.query_one(selector, Static)
        shown.update("\n".join(errors))
        shown.display = bool(errors)  # no empty line when all is well

    def describe(self, overrides: RetryOverrides | None) -> str:
        """The overrides in one line (names only)."""
        if overrides is None:
            return describe_overrides({}, {}, [])
        return clean(describe_overrides(overrides.variables, self.plan.variables, overrides.secrets))

    @on(Input.Changed)
    @on(TextArea.Changed)
    def _changed(self) -> None:
        if self._ready:
            self._validate()

    @on(TabbedContent.TabActivated, "#vars-mode")
    def _mode_switched(self, event: TabbedContent.TabActivated) -> None:
        # Carry what was typed across: rows → JSON text, or JSON text → rows when it is valid.
        if not self._ready:
            return  # the first tab shown at mount: the rows are already what the JSON says
        if event.pane.id == "vars-json-pane":
            values, errors = self.query_one("#vars", OverridesEditor).read()
            if not errors:
                self.query_one("#vars-json", TextArea).text = json.dumps(values, indent=2) if values else "{}"
        else:
            values, error = parse_json_object(self.query_one("#vars-json", TextArea).text)
            if error is None and values is not None:
                self.query_one("#vars", OverridesEditor).set_values(values)
        self._validate()

    # -- retrying -------------------------------------------------------------------------------
    @on(Input.Submitted)
    @on(Button.Pressed, "#sandbox")
    def action_sandbox(self) -> None:
        overrides = self._validate()
        if overrides is False:
            return
        if self.plan.single:
            self.dismiss(RetryRequest(self.ids, True, overrides))  # type: ignore[arg-type]
        else:
            self._confirm(True, overrides)  # type: ignore[arg-type]

    @on(Button.Pressed, "#production")
    def action_production(self) -> None:
        overrides = self._validate()
        if overrides is not False:
            self._confirm(False, overrides)  # type: ignore[arg-type]

    def _confirm(self, sandbox_mode: bool, overrides: RetryOverrides | None) -> None:
        def confirmed(ok: bool | None) -> None:
            if ok:
                self.dismiss(RetryRequest(self.ids, sandbox_mode, overrides))

        title, body = confirmation(self.plan, sandbox_mode, self.describe(overrides),
                                   overrides.secrets if overrides else {})
        label = "Retry in sandbox" if sandbox_mode else "Retry in production"
        self.app.push_screen(ConfirmModal(title, body, confirm_label=label,
                                          variant="primary" if sandbox_mode else "warning"), confirmed)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


def confirmation(plan: RetryPlan, sandbox_mode: bool, overrides: str, secrets: dict[str, Any]) -> tuple[str, str]:
    """The question before a production retry or a retry of several entries: what runs, what is skipped."""
    mode = "the sandbox" if sandbox_mode else "production"
    what = plan.ids[0] if plan.single else f"{len(plan.ids):,} {'entry' if len(plan.ids) == 1 else 'entries'}"
    lines = [f"Overrides: {overrides}."]
    if plan.skipped:
        lines.append(plan.skipped_summary() + ".")
    absent = [need.name for need in plan.with_overrides(secrets, sandbox_mode) if not need.provided]
    if absent:
        lines.append(f"Not provided in {mode}: {', '.join(absent)} (an action using one fails).")
    if not sandbox_mode:
        lines.append("The workflow will run against real systems, with production secrets. "
                     "Retry in the sandbox first if you are testing a fix.")
    return f"Retry {what} in {mode}?", clean("\n".join(lines))
