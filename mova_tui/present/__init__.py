"""What the command line and the dashboard show alike: no Typer, no Textual."""
