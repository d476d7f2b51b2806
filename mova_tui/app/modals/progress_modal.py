"""Live progress of a background job (a retry, a bulk operation): hiding it leaves the job running."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, ProgressBar, RichLog, Static

from mova_tui.app.messages import JobFinished, JobProgress


class ProgressModal(ModalScreen[None]):
    """Shows a job's progress lines and count as they arrive; escape hides it."""

    CSS_PATH = "modals.tcss"
    BINDINGS = [Binding("escape", "close", "Hide (the job goes on)")]

    def __init__(self, job_id: int) -> None:
        super().__init__()
        self.job_id = job_id

    def compose(self) -> ComposeResult:
        job = self.app.jobs[self.job_id]
        with Vertical(id="dialog", classes="progress"):
            yield Label(job.title, classes="title")
            yield ProgressBar(total=job.total, show_eta=False, id="bar")
            yield RichLog(id="log", wrap=True, markup=False, highlight=False, auto_scroll=True)
            yield Static("[dim]Running… escape hides this window; the job goes on.[/]", id="result")
            with Horizontal(classes="buttons"):
                yield Button("Hide", id="close")

    def on_mount(self) -> None:
        job = self.app.jobs[self.job_id]
        log = self.query_one(RichLog)
        for line in job.lines:
            log.write(Text(line))
        if job.done:
            self.query_one(ProgressBar).advance(job.done)
        if job.finished:
            self._show_result(job.summary)

    def job_updated(self, message: JobProgress) -> None:
        """Called by the app for each progress message of this job."""
        if message.line:
            self.query_one(RichLog).write(Text(message.line))
        if message.advance:
            self.query_one(ProgressBar).advance(message.advance)

    def job_finished(self, message: JobFinished) -> None:
        """Called by the app when the job ends."""
        self._show_result(message.summary, message.severity)

    def _show_result(self, summary: str, severity: str = "information") -> None:
        bar = self.query_one(ProgressBar)
        if bar.total is None:
            bar.update(total=1, progress=1)
        style = {"error": "bold red", "warning": "bold yellow"}.get(severity, "bold green")
        self.query_one("#result", Static).update(Text(summary, style=style))
        button = self.query_one("#close", Button)
        button.label = "Close"
        button.focus()

    @on(Button.Pressed, "#close")
    def action_close(self) -> None:
        self.dismiss(None)
