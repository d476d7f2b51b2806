"""One entry in full: the shared entry view (`mova_tui.present.entry_view`), head above, sections in tabs."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Static, TabbedContent, TabPane

from mova_core.model.entry import DeadLetterEntry
from mova_core.model.errors import EntryNotFound, MovaError
from mova_core.ops.service import DLQService
from mova_tui.app import actions
from mova_tui.app.worker_errors import ReportsWorkerErrors
from mova_tui.present.entry_view import RunProgress, entry_view
from mova_tui.present.safe_text import clean


@dataclass
class EntryLoaded(Message):
    """The entry, whether its lease is stale and the run holding it (or why it could not be read)."""

    entry: DeadLetterEntry | None
    error: str | None = None
    gone: bool = False
    stale: bool = False
    run: RunProgress | None = None


def _read(service: DLQService, entry_id: str) -> EntryLoaded:
    """The entry as the service sees it: stale by the service's rule, with its retry's run record."""
    entry = service.get(entry_id)
    lease = entry.metadata.lease
    run = service.find_run(lease.retry_run_id) if lease is not None else None
    return EntryLoaded(entry, stale=service.is_stale(entry), run=run)


class EntryScreen(ReportsWorkerErrors, Screen):
    """Details of one entry; escape goes back to the list."""

    CSS_PATH = "entry_screen.tcss"
    BINDINGS = [
        Binding("escape,backspace", "back", "Back"),
        Binding("question_mark", "help", "Help"),
        Binding("y", "copy_id", "Copy id"),
        Binding("r", "retry", "Retry"),
        Binding("a", "archive", "Archive"),
        Binding("d", "delete", "Delete"),
        Binding("1", "tab('tab-error')", "Error tab", show=False),
        Binding("2", "tab('tab-context')", "Context tab", show=False),
        Binding("3", "tab('tab-retries')", "Retries tab", show=False),
        Binding("4", "tab('tab-envelope')", "Envelope tab", show=False),
    ]

    def __init__(self, entry_id: str) -> None:
        super().__init__()
        self.entry_id = entry_id
        self.entry: DeadLetterEntry | None = None

    def compose(self) -> ComposeResult:
        yield Header(icon="")
        yield Static("Loading…", id="entry-head")
        with TabbedContent(id="entry-tabs"):
            with TabPane("1 Error", id="tab-error"):
                with VerticalScroll():
                    yield Static(id="error-body")
            with TabPane("2 Context", id="tab-context"):
                with VerticalScroll():
                    yield Static(id="context-body")
            with TabPane("3 Retries", id="tab-retries"):
                with VerticalScroll():
                    yield Static(id="retries-body")
            with TabPane("4 Envelope", id="tab-envelope"):
                with VerticalScroll():
                    yield Static(id="envelope-body")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.app.entries_changed_signal.subscribe(self, self.entries_changed)
        self.load()

    # -- loading ----------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="entry", exit_on_error=False)
    def load(self) -> None:
        """Read the full entry (validated) in a thread."""
        try:
            loaded = self.app.read(lambda service: _read(service, self.entry_id))
        except EntryNotFound:
            self.post_message(EntryLoaded(None, f"{self.entry_id} no longer exists (deleted elsewhere?)", gone=True))
            return
        except MovaError as exc:
            self.post_message(EntryLoaded(None, str(exc)))
            return
        self.post_message(loaded)

    def entries_changed(self, names: list[str] | None) -> None:
        """Reload when this entry's file changed."""
        if names is None or f"{self.entry_id}.json" in names:
            self.load()

    def on_entry_loaded(self, message: EntryLoaded) -> None:
        if message.entry is None:
            self.query_one("#entry-head", Static).update(Text(clean(message.error or "unreadable", one_line=True),
                                                              style="bold red"))
            if self.entry is not None and message.gone:
                self.notify(message.error or "entry removed", severity="warning")
            self.entry = None
            return
        self.entry = message.entry
        self.show(message)

    # -- rendering --------------------------------------------------------------------------------
    def show(self, loaded: EntryLoaded) -> None:
        """Put the entry's view on screen: its head above the tabs, one section per tab."""
        assert loaded.entry is not None
        view = entry_view(loaded.entry, self.app.clock(), stale=loaded.stale, run=loaded.run)
        self.sub_title = clean(loaded.entry.id, one_line=True)
        self.query_one("#entry-head", Static).update(view.head_text())
        for section in view.sections:
            self.query_one(f"#{section.key}-body", Static).update(section.body)

    # -- actions ----------------------------------------------------------------------------------
    def action_back(self) -> None:
        self.app.pop_screen()

    def action_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab

    def action_copy_id(self) -> None:
        self.app.copy_to_clipboard(self.entry_id)
        self.notify(f"Copied {self.entry_id}", timeout=2)

    def action_retry(self) -> None:
        actions.retry(self.app, [self.entry_id])

    def action_archive(self) -> None:
        actions.archive(self.app, [self.entry_id])

    def action_delete(self) -> None:
        def deleted(ids: list[str]) -> None:
            self.app.pop_screen()

        actions.delete(self.app, [self.entry_id], on_done=deleted)

    def action_help(self) -> None:
        from mova_tui.app.modals.help_modal import HelpModal

        self.app.push_screen(HelpModal.for_screen(self))
