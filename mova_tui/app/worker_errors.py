"""Worker failures go to the app, whose one `Worker.StateChanged` handler turns them into notifications."""

from __future__ import annotations

from textual.message_pump import MessagePump
from textual.worker import Worker, WorkerState


class ReportsWorkerErrors(MessagePump):
    """For screens and widgets that run workers: a worker's state reaches only its own node, so a failure
    is passed on to the app (a worker that died must not fail silently)."""

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Pass a failure on to the app."""
        if event.state is WorkerState.ERROR and self.app is not self:
            self.app.post_message(Worker.StateChanged(event.worker, event.state))
