"""A headless Chromium driven over the DevTools protocol (Debian's `chromium`; no browser download).

Just enough of the protocol for the console's tests: open a page, evaluate script, type keys,
watch for a value, take a screenshot, close the tab. One browser per test module.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import websockets

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
#: Keep a reference to xterm.js's Terminal as the page builds it (its constructor assigns `_core`),
#: so a test can read the terminal's buffer: the text the operator sees, not the bytes sent.
CAPTURE_TERMINAL = """
Object.defineProperty(Object.prototype, "_core", {
  configurable: true,
  set(value) {
    Object.defineProperty(this, "_core", {value, writable: true, configurable: true, enumerable: true});
    if (!window.__terminal && typeof this.loadAddon === "function") {
      window.__terminal = this;
    }
  },
});
"""
READ_SCREEN = """(() => {
  const t = window.__terminal;
  if (!t) return null;
  const b = t.buffer.active, lines = [];
  for (let i = 0; i < t.rows; i++) { const l = b.getLine(b.viewportY + i); lines.push(l ? l.translateToString(true) : ""); }
  return lines.join("\\n");
})()"""


def _kill_group(process: subprocess.Popen) -> None:
    """End the browser and every process it started (its wrapper script may have exec'd or not)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


def _start(executable: str, profile: str) -> subprocess.Popen:
    """Headless Chromium with a fresh profile, a DevTools port of its own, in its own process group."""
    flags = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
             "--disable-extensions", "--disable-background-networking", "--disable-component-update",
             "--disable-crash-reporter", "--disable-breakpad", "--enable-unsafe-swiftshader",
             "--use-angle=swiftshader", "--window-size=1280,800", "--remote-debugging-port=0"]
    return subprocess.Popen([executable, *flags, f"--user-data-dir={profile}", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def find_chromium() -> str | None:
    """The path of an installed Chromium, or None."""
    return next((p for p in map(shutil.which, CHROMIUM_NAMES) if p), None)


@dataclass
class Browser:
    """A running headless Chromium and its DevTools connection."""

    process: subprocess.Popen
    socket: Any
    profile: tempfile.TemporaryDirectory
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _waiting: dict[int, asyncio.Future] = field(default_factory=dict)
    _events: list[dict] = field(default_factory=list)
    _reader: asyncio.Task | None = None

    @classmethod
    async def launch(cls, executable: str) -> Browser:
        profile = tempfile.TemporaryDirectory(prefix="mova-chromium-")
        process = _start(executable, profile.name)

        port_file = Path(profile.name) / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not port_file.exists() or len(port_file.read_text().split()) < 2:
            if process.poll() is not None or time.monotonic() > deadline:
                _kill_group(process)
                raise RuntimeError("chromium did not start its DevTools endpoint")
            await asyncio.sleep(0.05)
        port, path = port_file.read_text().split()[:2]
        socket = await websockets.connect(f"ws://127.0.0.1:{port}{path}", max_size=64 * 1024 * 1024)
        browser = cls(process, socket, profile)
        browser._reader = asyncio.create_task(browser._read())
        return browser

    async def _read(self) -> None:
        async for raw in self.socket:
            message = json.loads(raw)
            future = self._waiting.pop(message.get("id"), None)
            if future is not None and not future.done():
                future.set_result(message)
            elif "method" in message:
                self._events.append(message)

    async def send(self, method: str, session: str | None = None, **params: Any) -> dict:
        """One protocol command; its result (an error raises)."""
        ident = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._waiting[ident] = future
        message: dict[str, Any] = {"id": ident, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        await self.socket.send(json.dumps(message))
        answer = await asyncio.wait_for(future, 30)
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer.get("result", {})

    async def new_page(self, context: str | None = None) -> Page:
        extra = {"browserContextId": context} if context else {}
        target = (await self.send("Target.createTarget", url="about:blank", **extra))["targetId"]
        session = (await self.send("Target.attachToTarget", targetId=target, flatten=True))["sessionId"]
        page = Page(self, target, session)
        await page.send("Page.enable")
        await page.send("Runtime.enable")
        await page.send("Page.addScriptToEvaluateOnNewDocument", source=CAPTURE_TERMINAL)
        return page

    async def new_context(self) -> str:
        """A browser context of its own: a separate cookie jar, like a second person's browser."""
        return (await self.send("Target.createBrowserContext"))["browserContextId"]

    async def close(self) -> None:
        try:
            await asyncio.wait_for(self.send("Browser.close"), 5)
        except (RuntimeError, TimeoutError, websockets.ConnectionClosed):
            pass  # the browser is going away already; it is killed below either way
        await self.socket.close()
        if self._reader:
            self._reader.cancel()
        _kill_group(self.process)
        self.profile.cleanup()


@dataclass
class Page:
    """One tab."""

    browser: Browser
    target: str
    session: str

    async def send(self, method: str, **params: Any) -> dict:
        return await self.browser.send(method, self.session, **params)

    async def goto(self, url: str) -> None:
        # The page left behind is marked, so the wait passes only on the new document.
        await self.evaluate("window.movaLeft = true")
        await self.send("Page.navigate", url=url)
        await self.wait_for("!window.movaLeft && document.readyState === 'complete' && location.href !== 'about:blank'")

    async def evaluate(self, expression: str) -> Any:
        result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = 20.0) -> Any:
        """Poll `expression` until it is truthy; its value."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                value = await self.evaluate(expression)
            except RuntimeError:  # the page is between documents
                value = None
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {expression!r}")
            await asyncio.sleep(0.1)

    async def screen(self) -> str:
        """The terminal's visible lines, as xterm.js holds them ('' before it has drawn)."""
        return await self.evaluate(READ_SCREEN) or ""

    async def wait_for_screen(self, *needles: str, timeout: float = 20.0) -> str:
        """Wait until every needle is on the terminal's screen; the screen."""
        deadline = time.monotonic() + timeout
        while True:
            text = await self.screen()
            if all(n in text for n in needles):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {needles} on the terminal; it shows:\n{text}")
            await asyncio.sleep(0.1)

    async def press(self, key: str, code: str | None = None, text: str | None = None, key_code: int = 0) -> None:
        """One key press, as the keyboard sends it to the focused terminal."""
        typed = key if text is None and len(key) == 1 else text
        common = {"key": key, "code": code or key, "windowsVirtualKeyCode": key_code or (ord(key.upper()) if len(key) == 1 else 0)}
        await self.send("Input.dispatchKeyEvent", type="keyDown", **common, **({"text": typed} if typed else {}))
        await self.send("Input.dispatchKeyEvent", type="keyUp", **common)

    async def screenshot(self, path: Path) -> Path:
        data = (await self.send("Page.captureScreenshot", format="png"))["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    async def close(self) -> None:
        await self.browser.send("Target.closeTarget", targetId=self.target)
