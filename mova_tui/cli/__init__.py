"""The `mova` command line (Typer + Rich). Imports neither Textual nor the HTTP server packages."""
