"""Hostile text for the terminal-safety tests: escape sequences in entries, file names and a server's answers,
and the check that none of it reaches a terminal."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

#: Sets the terminal's title (OSC 2 … ST), clears the screen (CSI 2J, and CSI as the one C1 byte),
#: rings the bell, backs up, jumps a line, reverses the text that follows.
ESCAPES = "\x1b]2;PWNED\x1b\\\x1b[2J\x9b2J\x07\x08\x0b\u202e"
#: What splits a line or a table row, or moves back to its start.
BREAKS = "\n\t\r"

# Any control but LF, DEL, C1, bidirectional marks and line separators: none may come out.
_UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")
# What Rich itself writes to a terminal (colours; its spinner's cursor and line controls), and what
# Textual writes (colours, cursor positions); the terminal's own CR before each LF under a pty.
RICH_CONTROLS = re.compile(r"\x1b\[[0-9;]*m|\x1b\[\?25[lh]|\x1b\[2K|\x1b\[1A|\r")
TEXTUAL_CONTROLS = re.compile(r"\x1b\[[0-9;]*m|\x1b\[\d+;\d+H")


def unsafe(text: str) -> list[str]:
    """The unsafe characters in `text`, each once, as escapes."""
    return sorted({repr(c) for c in _UNSAFE.findall(text)})


def assert_inert(text: str, where: str = "") -> None:
    """No control character but LF in `text` (output captured without a terminal: no styling)."""
    assert unsafe(text) == [], f"{where}: {unsafe(text)} in {text[:2000]!r}"


def assert_inert_terminal(text: str, where: str = "", controls: re.Pattern[str] = RICH_CONTROLS) -> None:
    """No control character but LF in a terminal stream once the printer's own sequences are taken out."""
    assert "\x1b]" not in text, f"{where}: an operating-system command (the title) came through"
    assert_inert(controls.sub("", text), where)


def hostile_entry(entry_id: str, base_url: str, closed_url: str, created_at: str = "2026-11-27T00:00:00Z",
                  delay: float = 0.01) -> dict:
    """An entry whose every name and text holds escapes and breaks; its envelope fetches the server's
    hostile body, prints it, then fails twice (`delay` seconds apart) on a closed port."""
    name = "wf" + ESCAPES + BREAKS + "type"
    actions = [
        {"id": "fetch", "type": "http_fetch", "params": {"url": f"{base_url}/body"}},
        {"id": "say" + ESCAPES + BREAKS, "type": "print", "params": {"message": "{{ results.fetch.body }}"}},
        {"id": "act" + ESCAPES + BREAKS, "type": "http_fetch", "params": {"url": f"{closed_url}/gone"},
         "retry": {"max_attempts": 2, "backoff": "fixed", "delay": delay}},
    ]
    hostile = "boom" + ESCAPES + BREAKS + "end"
    return {
        "id": entry_id,
        "run_id": "run_1642588245123456789",
        "created_at": created_at,
        "status": "active",
        "envelope": {"intent": {"name": name, "version": "1.0"}, "actions": actions},
        "context": {"run_id": "run_1642588245123456789", "status": "failed",
                    "variables": {"note" + ESCAPES + BREAKS: hostile, "[/oops]": "[bold]markup[/]"},
                    "results": {"act" + ESCAPES + BREAKS: {"status": "failed", "type": "http" + ESCAPES,
                                                           "error": hostile, "attempts": 3}}},
        "failed_action": {"id": "act" + ESCAPES + BREAKS, "type": "http_fetch" + ESCAPES,
                          "params": {"url": f"{closed_url}/gone" + ESCAPES}},
        "error_details": {
            "last_error": hostile,
            "error_history": [f"Attempt {n}: {hostile}" for n in (1, 2, 3)],
            "failure_reason": "max_retries_exceeded" + ESCAPES,
            "attempts": 3,
            "stack_trace": "Traceback\n  " + hostile,
        },
        "metadata": {"source": "executor" + ESCAPES + BREAKS, "priority": 1, "workflow_type": name,
                     "user_id": "u" + ESCAPES + BREAKS, "retry_count": 0, "tags": ["t" + ESCAPES + BREAKS]},
    }


#: A template the envelope check refuses, naming it in its message.
MALFORMED_TEMPLATE = "{{ variables.nope" + ESCAPES + " }}"


def write_entry(directory: Path, doc: dict) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{doc['id']}.json"
    path.write_text(json.dumps(doc))
    return path


@contextmanager
def hostile_server() -> Iterator[str]:
    """A local server whose answers hold escapes: `/body` 200 with a hostile text body; yields its URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = ("server says " + ESCAPES + BREAKS + "bye").encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
