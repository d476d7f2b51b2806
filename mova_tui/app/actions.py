"""The operations both screens offer (retry, archive, reopen, delete, export): a modal, then a background job.

Each takes the app as a `JobHost` (modals, notifications, jobs); the job bodies live in `bulk`
and `export`, and run through the core's bulk runner. In a read-only dashboard (`mova tui
--read-only`, a read-only web console session) each one refuses here, its single entry point.
"""

from __future__ import annotations

from collections.abc import Callable

from typing import TYPE_CHECKING

from mova_core.model.errors import MovaError
from mova_core.model.listing import EntryFilter
from mova_tui.app.bulk import bulk_job, count, retry_job
from mova_tui.app.export import export_job
from mova_tui.app.host import JobHost
from mova_tui.app.modals.confirm_modal import ConfirmModal
from mova_tui.app.modals.export_modal import ExportModal, ExportRequest
from mova_tui.app.modals.retry_modal import RetryModal, RetryRequest
from mova_tui.app.retry_plan import RetryPlan, read_plan
from mova_tui.present.text import short_id

if TYPE_CHECKING:
    from mova_core.model.entry import Lease

#: Called with the ids once their job has started (the dashboard then clears them from its selection).
Done = Callable[[list[str]], None] | None


def refuse_in_read_only(app: JobHost, what: str) -> bool:
    """In a read-only dashboard: say that `what` is not allowed, and refuse."""
    if app.read_only:
        app.notify(f"This dashboard is read-only: {what} is not allowed here.", title="Read-only",
                   severity="warning")
    return app.read_only


def _nothing_under_cursor(app: JobHost, ids: list[str]) -> bool:
    if not ids:
        app.notify("No entry under the cursor", severity="warning")
    return not ids


def retry(app: JobHost, ids: list[str], on_done: Done = None) -> None:
    """Read what the chosen entries need, then open the retry dialog (or say why none can be retried)."""
    if refuse_in_read_only(app, "retrying"):
        return
    ids = list(ids)
    if _nothing_under_cursor(app, ids):
        return
    # Many entries are read on a service of their own, so the table is not held up meanwhile.
    read = app.read if len(ids) == 1 else app.read_apart

    def plan() -> None:
        found = read(lambda service: read_plan(service, ids))
        app.call_from_thread(_open_retry, app, found, on_done)

    app.run_worker(plan, thread=True, group="retry-plan", exclusive=True, exit_on_error=False)


def _open_retry(app: JobHost, plan: RetryPlan, on_done: Done) -> None:
    if not plan.ids:
        app.notify(plan.refusal(), title="Cannot retry", severity="warning", timeout=10, markup=False)
        return

    def chosen(request: RetryRequest | None) -> None:
        if request is None:
            return
        ids = request.ids
        mode = "sandbox" if request.sandbox_mode else "production"
        title = f"{mode.capitalize()} retry of " + (short_id(ids[0]) if len(ids) == 1 else count(len(ids)))
        notes = [f"skipped {short_id(i)}: {skip.reason}" for i, skip in plan.skipped.items()]
        app.start_job(title, len(ids), retry_job(ids, request.sandbox_mode, request.overrides, notes=notes),
                      cancellable=len(ids) > 1)
        if on_done:
            on_done([*ids, *plan.skipped])

    app.push_screen(RetryModal(plan), chosen)


def archive(app: JobHost, ids: list[str], on_done: Done = None) -> None:
    """Archive one entry at once, or a frozen selection after a confirmation stating the count."""
    if refuse_in_read_only(app, "archiving"):
        return
    ids = list(ids)
    if _nothing_under_cursor(app, ids):
        return
    if len(ids) == 1:
        _after_lease_check(app, ids[0], lambda lease: _archive_one(app, ids, lease, on_done))
        return

    def confirmed(ok: bool | None) -> None:
        if ok:
            app.start_job(f"Archive {count(len(ids))}", len(ids), bulk_job("archive", ids), cancellable=True)
            if on_done:
                on_done(ids)

    app.push_screen(
        ConfirmModal(f"Archive {count(len(ids))}?",
                     f"The {count(len(ids))} selected will be set to archived. They can be reopened later.",
                     confirm_label=f"Archive {len(ids):,}", variant="warning"),
        confirmed,
    )


def _archive_one(app: JobHost, ids: list[str], lease: Lease | None, on_done: Done) -> None:
    """Archive one entry at once; one under a running retry only after confirming the lease is broken."""
    if lease is None:
        app.start_job(f"Archive {short_id(ids[0])}", 1, bulk_job("archive", ids), show=False)
        if on_done:
            on_done(ids)
        return

    def confirmed(ok: bool | None) -> None:
        if ok:
            app.start_job(f"Archive {short_id(ids[0])}", 1, bulk_job("archive", ids, break_lease=True), show=False)
            if on_done:
                on_done(ids)

    app.push_screen(ConfirmModal(f"Archive {ids[0]}?", f"Entry {ids[0]} will be set to archived. " + _held(lease),
                                 confirm_label="Break lease and archive", variant="error"), confirmed)


def _after_lease_check(app: JobHost, entry_id: str, go: Callable[[Lease | None], None]) -> None:
    """Read (off the app's thread) whether a live retry lease holds the entry, then `go(lease)`."""

    def look() -> None:
        try:
            lease = app.read(lambda service: service.live_lease(entry_id))
        except MovaError:  # gone or unreadable meanwhile: the change itself will say so
            lease = None
        app.call_from_thread(go, lease)

    app.run_worker(look, thread=True, group="lease-check", exclusive=True, exit_on_error=False)


def _held(lease: Lease) -> str:
    """What breaking this lease means, for a confirmation."""
    return (f"A {'sandbox' if lease.sandbox_mode else 'production'} retry (run {lease.retry_run_id}, {lease.owner}) "
            f"holds it until {lease.expires_at}: going ahead breaks that lease (as --break-lease does), and "
            "the retry, which loses the entry, is recorded as abandoned.")


def reopen(app: JobHost, ids: list[str], on_done: Done = None) -> None:
    """Set one entry or a frozen selection back to active, after a confirmation; the lifecycle decides."""
    subject = f"The {count(len(ids))} selected go" if len(ids) > 1 else f"Entry {ids[0] if ids else ''} goes"
    _confirmed_change(app, "reopen", "reopening", ids, on_done,
                      f"{subject} back to active: counted by the alerts again, and ready to retry. "
                      "Archived and resolved entries can be reopened; a selection skips those under a running retry.", "primary")


def delete(app: JobHost, ids: list[str], on_done: Done = None) -> None:
    """Delete one entry or a frozen selection, always after a confirmation."""
    body = (f"The {count(len(ids))} selected will be removed from the dead-letter directory." if len(ids) > 1
            else f"Entry {ids[0] if ids else ''} will be removed from the dead-letter directory.")
    _confirmed_change(app, "delete", "deleting", ids, on_done, body + " This cannot be undone.", "error")


def _confirmed_change(app: JobHost, op: str, doing: str, ids: list[str], on_done: Done, body: str,
                      variant: str) -> None:
    """Ask, then run `op` on the ids as a job (a window and Cancel for several)."""
    if refuse_in_read_only(app, doing):
        return
    ids = list(ids)
    if _nothing_under_cursor(app, ids):
        return
    if len(ids) > 1:
        _confirm_change(app, op, ids, on_done, body, variant, None)
    else:
        _after_lease_check(app, ids[0], lambda lease: _confirm_change(app, op, ids, on_done, body, variant, lease))


def _confirm_change(app: JobHost, op: str, ids: list[str], on_done: Done, body: str, variant: str,
                    lease: Lease | None) -> None:
    """The confirmation, then the job; for one entry under a running retry, confirming breaks its lease."""
    many = len(ids) > 1
    what = count(len(ids)) if many else ids[0]
    verb = op.capitalize()

    def confirmed(ok: bool | None) -> None:
        if ok:
            app.start_job(f"{verb} {what if many else short_id(ids[0])}", len(ids),
                          bulk_job(op, ids, break_lease=lease is not None), show=many, cancellable=many)
            if on_done:
                on_done(ids)

    label = f"{verb} {len(ids):,}" if many else verb
    if lease is not None:
        body, label, variant = f"{body} {_held(lease)}", f"Break lease and {op}", "error"
    app.push_screen(ConfirmModal(f"{verb} {what}?", body, confirm_label=label, variant=variant), confirmed)


def export(app: JobHost, flt: EntryFilter, total: int, described: str) -> None:
    """Ask for a path and format, then write the filtered view there in a job."""
    if refuse_in_read_only(app, "exporting to the server's disk"):
        return

    def chosen(request: ExportRequest | None) -> None:
        if request is not None:
            app.start_job(f"Export to {request.path}", None, export_job(flt, request.fmt, request.path), show=False)

    stamp = app.clock().strftime("%Y%m%d-%H%M%S")
    app.push_screen(ExportModal(total, described, default_stem=f"dlq-export-{stamp}"), chosen)
