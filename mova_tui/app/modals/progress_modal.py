"""Live progress of a background job (a retry, a bulk operation): hiding it leaves the job running."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.signal import Signal
from textual.widgets import Button, Label, ProgressBar, RichLog, Static

from mova_tui.app.jobs import Job
from mova_tui.app.messages import CancelJob
from mova_tui.present.safe_text import clean

RESULT_STYLES = {"error": "bold red", "warning": "bold yellow", "information": "bold green"}


class ProgressModal(ModalScreen[None]):
    """A job's lines and count as they arrive; escape hides the window, c (or Cancel) stops the job."""

    CSS_PATH = "modals.tcss"
    BINDINGS = [
        Binding("escape", "hide", "Hide (the job goes on)"),
        Binding("c", "cancel_job", "Cancel the job"),
    ]

    def __init__(self, job: Job, updates: Signal[Job]) -> None:
        super().__init__()
        self.job = job
        self._updates = updates
        self._lines_shown = 0
        self._advanced = 0

    def compose(self) -> ComposeResult:
        job = self.job
        hint = "escape hides this window (the job goes on)" + ("; c cancels it" if job.cancellable else "")
        with Vertical(id="dialog", classes="progress"):
            yield Label(Text(clean(job.title, one_line=True)), classes="title")
            yield ProgressBar(total=job.total, show_eta=False, id="bar")
            yield RichLog(id="log", wrap=True, markup=False, highlight=False, auto_scroll=True)
            yield Static(f"[dim]Running… {hint}.[/]", id="result")
            with Horizontal(classes="buttons"):
                if job.cancellable:
                    yield Button("Cancel job", id="cancel", variant="error")
                yield Button("Hide", id="close")

    def on_mount(self) -> None:
        self._updates.subscribe(self, self._job_changed)
        self._show()

    def _job_changed(self, job: Job) -> None:
        if job is self.job:
            self._show()

    def _show(self) -> None:
        """Bring the window up to the job's record: new lines, the count, and how it ended."""
        job = self.job
        log = self.query_one(RichLog)
        for line in job.lines[self._lines_shown:]:
            # Lines quote ids, entry errors and servers' answers.
            log.write(Text(clean(line)))
        self._lines_shown = len(job.lines)
        if job.done > self._advanced:
            self.query_one(ProgressBar).advance(job.done - self._advanced)
            self._advanced = job.done
        if job.finished:
            self._show_result()
        elif job.cancelling:
            self.query_one("#result", Static).update(
                Text("Cancelling: nothing new starts; the entry under way finishes and is recorded…", style="yellow"))
        self.refresh_bindings()
        for button in self.query("#cancel").results(Button):
            button.disabled = job.cancelling
            button.display = not job.finished

    def _show_result(self) -> None:
        assert self.job.report is not None
        bar = self.query_one(ProgressBar)
        if bar.total is None:
            bar.update(total=1, progress=1)
        report = self.job.report
        self.query_one("#result", Static).update(Text(clean(report.summary), style=RESULT_STYLES[report.severity]))
        button = self.query_one("#close", Button)
        button.label = "Close"
        button.focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """`c` is offered only while a cancellable job runs."""
        if action == "cancel_job":
            return self.job.cancellable and not self.job.finished and not self.job.cancelling
        return True

    @on(Button.Pressed, "#cancel")
    def action_cancel_job(self) -> None:
        """Ask the app to stop the job (it finishes what is under way, then reports how to resume)."""
        if self.check_action("cancel_job", ()):
            self.post_message(CancelJob(self.job.id))

    @on(Button.Pressed, "#close")
    def action_hide(self) -> None:
        """Close the window; a running job goes on, and a notification says when it ends."""
        self.dismiss(None)
