"""What the command line and the dashboard show alike: no Typer, no Textual.

`palette` (status and outcome colours), `entry_view` (one entry in full), `events` (one line per
engine event), `redaction` (what is masked on screen and in `--format json`), `text` (short ids,
one-line text, ages), `safe_text` (text from entry files made inert).
"""
