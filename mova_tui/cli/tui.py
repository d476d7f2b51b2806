"""`mova tui`: open the Textual dashboard (Textual is imported only here, when the command runs)."""


def tui_command() -> None:
    """Open the dashboard (being built)."""
    raise SystemExit("mova tui: not built yet")
