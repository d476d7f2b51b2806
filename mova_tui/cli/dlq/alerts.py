"""`mova dlq alerts`: the specification's alert conditions; exit 1 when one is breached (cron, CI)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from mova_tui.cli.dlq.common import warn_skipped
from mova_tui.cli.dlq.stats import skipped_json
from mova_tui.cli.output import (
    EXIT_FAILED,
    EXIT_USAGE,
    console,
    examples,
    fail,
    info,
    print_json,
)
from mova_tui.cli.params import Format, FormatOpt
from mova_tui.cli.state import get_state

if TYPE_CHECKING:
    from mova_core.ops.alerts import Thresholds
    from mova_core.settings import Settings

app = typer.Typer()


def parse_duration_option(value: Optional[str]) -> Optional[float]:
    """`30m`, `2h`, `7d` into seconds."""
    if value is None:
        return None
    from mova_core.timeutil import parse_duration

    try:
        return parse_duration(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def parse_growth_option(value: Optional[str]) -> Optional[int]:
    """`50` or `50/h`: new entries per hour."""
    if value is None:
        return None
    m = re.fullmatch(r"\s*(\d+)\s*(?:/\s*(?:h|hour))?\s*", value)
    if not m:
        raise typer.BadParameter(f"not a growth rate: {value!r} (new entries per hour, e.g. 50 or 50/h)")
    return int(m.group(1))


def parse_rate_option(value: Optional[str]) -> Optional[float]:
    """`0.25` or `25%`: a share between 0 and 1."""
    if value is None:
        return None
    text = value.strip()
    try:
        rate = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise typer.BadParameter(f"not a rate: {value!r} (a fraction like 0.25, or 25%)") from None
    if not 0 <= rate <= 1:
        raise typer.BadParameter(f"{value!r} is outside 0..1 (or 0%..100%)")
    return rate


MaxActiveOpt = Annotated[Optional[int], typer.Option("--max-active", min=0, metavar="N", help="More than N active entries.")]
MaxAgeOpt = Annotated[Optional[str], typer.Option(
    "--max-age", metavar="DURATION", parser=parse_duration_option, help="An active entry older than DURATION (30m, 2h, 7d).")]
MaxGrowthOpt = Annotated[Optional[str], typer.Option(
    "--max-growth", metavar="N/h", parser=parse_growth_option, help="More than N entries dead-lettered in the last hour.")]
MaxRetryFailureRateOpt = Annotated[Optional[str], typer.Option(
    "--max-retry-failure-rate", metavar="R", parser=parse_rate_option, help="Share of failed retries above R (0.25 or 25%).")]
MaxSandboxRuntimeOpt = Annotated[Optional[str], typer.Option(
    "--max-sandbox-runtime", metavar="DURATION", parser=parse_duration_option,
    help="A sandbox retry running longer than DURATION.")]

#: Each threshold: its option's parser and the MOVA_ALERT_* variable it falls back to.
_SETTINGS: dict[str, tuple[Callable[[Any], Any], str]] = {
    "max_active": (int, "MOVA_ALERT_MAX_ACTIVE"),
    "max_age": (parse_duration_option, "MOVA_ALERT_MAX_AGE"),
    "max_growth": (parse_growth_option, "MOVA_ALERT_MAX_GROWTH"),
    "max_retry_failure_rate": (parse_rate_option, "MOVA_ALERT_MAX_RETRY_FAILURE_RATE"),
    "max_sandbox_runtime": (parse_duration_option, "MOVA_ALERT_MAX_SANDBOX_RUNTIME"),
}


@app.command(epilog=examples(
    "mova dlq alerts --max-active 50 --max-age 2d",
    "mova dlq alerts --max-growth 20/h --max-retry-failure-rate 25% --max-sandbox-runtime 15m",
    "MOVA_ALERT_MAX_ACTIVE=50 mova dlq alerts --format json   (cron: exit 1 pages)",
))
def alerts(
    ctx: typer.Context,
    max_active: MaxActiveOpt = None,
    max_age: MaxAgeOpt = None,
    max_growth: MaxGrowthOpt = None,
    max_retry_failure_rate: MaxRetryFailureRateOpt = None,
    max_sandbox_runtime: MaxSandboxRuntimeOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Check the specification's alert conditions; exit 1 when a threshold is breached (for cron or CI)."""
    state = get_state(ctx)
    thresholds = _thresholds(state.settings(), {
        "max_active": max_active, "max_age": max_age, "max_growth": max_growth,
        "max_retry_failure_rate": max_retry_failure_rate, "max_sandbox_runtime": max_sandbox_runtime,
    })
    svc = state.service(warn_missing=False)
    if svc.settings.file_store and not svc.settings.dlq_path.is_dir():
        # A typo in a cron job's MOVA_DLQ_PATH must page, not read as a healthy empty queue.
        fail(f"dead-letter directory {svc.settings.dlq_path} does not exist (set MOVA_DLQ_PATH or --dlq-path)",
             EXIT_USAGE)
    found = svc.alerts(thresholds)
    skipped = svc.skipped()
    breached = [a for a in found if a.breached]
    if fmt == Format.json:
        print_json({"breached": bool(breached), "alerts": [a.model_dump(mode="json") for a in found],
                    **skipped_json(skipped)})
    else:
        from mova_tui.cli.render import alerts_view

        console().print(alerts_view(found))
        info(f"{len(breached)} of {len(found)} thresholds breached" if breached else "all thresholds ok")
    if skipped:  # their entries are counted by no threshold
        warn_skipped(skipped, svc.settings.dlq_path)
    if breached:
        raise typer.Exit(EXIT_FAILED)


def _thresholds(settings: Settings, given: dict[str, Any]) -> Thresholds:
    """The options given, and for those left out the MOVA_ALERT_* settings, parsed as the options are."""
    from mova_core.ops.alerts import Thresholds

    values = dict(given)
    for name, (parse, variable) in _SETTINGS.items():
        configured = getattr(settings, f"alert_{name}")
        if values[name] is None and configured is not None:
            try:
                values[name] = parse(configured) if isinstance(configured, str) else configured
            except typer.BadParameter as exc:
                fail(f"{variable}: {exc.message}", EXIT_USAGE)
    thresholds = Thresholds(
        max_active=values["max_active"], max_age_seconds=values["max_age"], max_growth_per_hour=values["max_growth"],
        max_retry_failure_rate=values["max_retry_failure_rate"],
        max_sandbox_runtime_seconds=values["max_sandbox_runtime"],
    )
    if all(v is None for v in thresholds.model_dump().values()):
        fail("no thresholds given: use --max-active, --max-age, --max-growth, --max-retry-failure-rate or "
             "--max-sandbox-runtime (or MOVA_ALERT_* variables)", EXIT_USAGE)
    return thresholds
