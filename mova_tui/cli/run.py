"""`mova run WORKFLOW.json`: run an envelope with retries; dead-letter it if it fails."""


def run_command() -> None:
    """Run a workflow envelope (being built)."""
    raise SystemExit("mova run: not built yet")
