"""How an attempt says it failed (the action-error family), and how a run is told to stop.

Actions raise these; the run context raises `SandboxBlocked`; the attempt loop reads `retryable`,
`reason` and `retry_after` to decide what follows.
"""

from __future__ import annotations


class ActionError(Exception):
    """An attempt failed; `retryable` says whether another attempt may help."""

    retryable = True
    #: The entry's failure_reason when this error ends the action (None: decided by the policy).
    reason: str | None = None

    def __init__(self, message: str, *, retryable: bool | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.message = message
        if retryable is not None:
            self.retryable = retryable
        #: Seconds a server asked us to wait (HTTP Retry-After), if any.
        self.retry_after = retry_after


class NonRetryableError(ActionError):
    """Another attempt would fail the same way (HTTP 4xx, a bad reference, a blocked host)."""

    retryable = False
    reason = "non_retryable_error"


class InvalidActionConfig(NonRetryableError):
    """The action's params are wrong: a missing or mistyped field, an unknown type."""


class ActionTimeout(ActionError):
    """The action or the workflow ran out of time; not retried."""

    retryable = False
    reason = "timeout"


class SandboxBlocked(NonRetryableError):
    """A sandbox run tried to reach a host that is not allow-listed."""


class RunCancelled(Exception):
    """The run was cancelled: it stops where it is and is recorded as cancelled, with `message`
    as its error and `reason` as its failure reason (`cancelled`, or why the run stopped itself).

    Not an ActionError: no policy may retry it away.
    """

    def __init__(self, message: str = "cancelled", reason: str = "cancelled"):
        super().__init__(message)
        self.message, self.reason = message, reason
