"""The console's two pages: the log-in form and the terminal page, with headers that keep them in place.

Both are self-contained (no fonts or scripts from elsewhere); the terminal page loads
textual-serve's xterm.js bundle from the console's own `static/`, which needs a session.
"""

from __future__ import annotations

import secrets
from html import escape

from starlette.responses import HTMLResponse

_STYLE = """
html, body { margin: 0; height: 100%; background: #0c181f; color: #e8eef2;
             font-family: ui-monospace, Menlo, Consolas, monospace; }
main { max-width: 28rem; margin: 12vh auto; padding: 2rem; background: #12232d; }
h1 { font-size: 1.2rem; margin-top: 0; } label { display: block; margin-bottom: .5rem; }
input { width: 100%; box-sizing: border-box; padding: .5rem; font: inherit; }
button { margin-top: 1rem; padding: .5rem 1.5rem; font: inherit; background: #5e0ba7; color: #fff; border: 0;
         cursor: pointer; }
.error { color: #ff8a80; } .hint { color: #9fb3bf; font-size: .85rem; }
"""

_LOGIN = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>mova console: log in</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{style}</style></head>
<body><main>
<h1>mova dead-letter console</h1>
{message}
<form method="post" action="{prefix}/login">
<label for="token">API token (MOVA_API_TOKEN, or MOVA_API_READ_TOKEN for read-only)</label>
<input id="token" name="token" type="password" autocomplete="current-password" autofocus required>
<button type="submit">Log in</button>
</form>
<p class="hint">The token is sent once, in this form; the session then lasts {hours} hours or until you log out.</p>
</main></body></html>
"""

_TERMINAL = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>{title}</title>
<link rel="stylesheet" href="{prefix}/static/css/xterm.css">
<style>
html, body {{ margin: 0; height: 100%; overflow: hidden; background: #0c181f; }}
#terminal {{ width: 100%; height: 100%; }}
#ended {{ display: none; position: absolute; inset: 0; z-index: 10; align-items: center; justify-content: center;
          background: rgba(12, 24, 31, .92); color: #e8eef2; font-family: ui-monospace, Menlo, monospace; }}
body.-closed #ended {{ display: flex; }}
#ended div {{ background: #12232d; padding: 2rem; max-width: 36rem; text-align: center; }}
button {{ margin: 1rem .5rem 0; padding: .5rem 1.5rem; font: inherit; background: #5e0ba7; color: #fff;
          border: 0; cursor: pointer; }}
</style></head>
<body>
<div id="ended"><div><p id="reason">Session ended.</p>
<button type="button" id="restart">Start again</button>
<form method="post" action="{prefix}/logout" style="display: inline"><button type="submit">Log out</button></form>
</div></div>
<div id="terminal"></div>
<script type="module" nonce="{nonce}">
import {{ startTerminal }} from "{prefix}/static/js/textual.js";
// The server says why it closed a session (full, idle, ended): show that instead of a bare "ended".
const Native = window.WebSocket;
window.WebSocket = class extends Native {{
  constructor(...args) {{
    super(...args);
    this.addEventListener("close", (event) => {{
      document.getElementById("reason").textContent = event.reason || "Session ended.";
    }});
  }}
}};
document.getElementById("restart").addEventListener("click", () => window.location.reload());
const socket = new URL("{prefix}/ws", window.location.href);
socket.protocol = window.location.protocol === "https:" ? "wss:" : "ws:";
startTerminal(document.getElementById("terminal"), socket.href, 16);
</script>
</body></html>
"""


def _headers(nonce: str | None = None) -> dict[str, str]:
    """No framing (keys typed into a framed console would be clickjacked), no caching, nothing from elsewhere."""
    script = f"'self' 'nonce-{nonce}'" if nonce else "'none'"
    policy = (f"default-src 'self'; script-src {script}; style-src 'self' 'unsafe-inline'; "
              "img-src 'self' data: blob:; worker-src 'self' blob:; connect-src 'self'; "
              "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
    return {"Content-Security-Policy": policy, "X-Frame-Options": "DENY", "Cache-Control": "no-store",
            "Referrer-Policy": "same-origin", "X-Content-Type-Options": "nosniff"}


def login_page(prefix: str, lifetime: float, message: str = "", status_code: int = 200) -> HTMLResponse:
    """The log-in form (with `message`, an error to show, escaped)."""
    shown = f'<p class="error" role="alert">{escape(message)}</p>' if message else ""
    html = _LOGIN.format(style=_STYLE, message=shown, prefix=escape(prefix), hours=f"{lifetime / 3600:g}")
    return HTMLResponse(html, status_code, headers=_headers())


def terminal_page(prefix: str, title: str) -> HTMLResponse:
    """The page whose terminal runs one dashboard session."""
    nonce = secrets.token_urlsafe(16)
    html = _TERMINAL.format(title=escape(title), prefix=escape(prefix), nonce=nonce)
    return HTMLResponse(html, headers=_headers(nonce))
