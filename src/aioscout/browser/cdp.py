"""A small Chrome DevTools Protocol client: start headless Chromium and talk to it.

One websocket to the browser endpoint carries every command; pages are reached
through flattened sessions (``Target.attachToTarget`` with ``flatten``), so a
message names its ``sessionId`` instead of opening a socket per tab. Events are
handed to the listeners of their session.

Chromium is started with a throwaway profile and ``--remote-debugging-port=0``;
the port it chose is read from the ``DevToolsActivePort`` file it writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import shutil
import signal
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

__all__ = [
    "Browser",
    "BrowserError",
    "CdpError",
    "Page",
    "find_chromium",
    "process_tree_memory",
    "process_tree_rss",
]

_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--disable-dev-shm-usage",
    "--mute-audio",
    "--hide-scrollbars",
    "--remote-debugging-port=0",
)

Listener = Callable[[str, dict[str, Any]], None]


class BrowserError(Exception):
    """Chromium could not be started, or its connection is gone."""


class CdpError(Exception):
    """A DevTools command answered with an error."""


def find_chromium() -> str | None:
    """The Chromium executable on PATH, or ``None``."""
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


class Browser:
    """A headless Chromium process and its DevTools connection.

    Example::

        async with await Browser.launch() as browser:
            page = await browser.new_page()
            await page.goto("http://127.0.0.1:8080/")
            png = await page.screenshot()
    """

    def __init__(self, proc: asyncio.subprocess.Process, profile: str) -> None:
        self.proc = proc
        self._profile = profile
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._listeners: dict[str, list[Listener]] = {}
        self._reader: asyncio.Task[None] | None = None
        self.closed = False

    @classmethod
    async def launch(
        cls,
        executable: str | None = None,
        *,
        extra_args: tuple[str, ...] = (),
        timeout: float = 30.0,
    ) -> Browser:
        """Start Chromium (``executable`` or the one on PATH) and connect to it."""
        exe = executable or find_chromium()
        if exe is None:
            raise BrowserError("chromium not found: install the Debian package 'chromium'")
        profile = tempfile.mkdtemp(prefix="aioscout-chromium-")
        proc = await asyncio.create_subprocess_exec(
            exe,
            *_FLAGS,
            f"--user-data-dir={profile}",
            *extra_args,
            "about:blank",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,
        )
        browser = cls(proc, profile)
        try:
            async with asyncio.timeout(timeout):
                await browser._connect()
        except BaseException:
            await browser.aclose()
            raise
        return browser

    async def _connect(self) -> None:
        port_file = Path(self._profile) / "DevToolsActivePort"
        while True:
            if self.proc.returncode is not None:
                raise BrowserError(f"chromium exited with status {self.proc.returncode}")
            with contextlib.suppress(FileNotFoundError):
                lines = port_file.read_text().split("\n")
                if len(lines) >= 2 and lines[1]:
                    break
            await asyncio.sleep(0.05)
        url = f"ws://127.0.0.1:{lines[0].strip()}{lines[1].strip()}"
        self._session = aiohttp.ClientSession()
        self._ws = await self._session.ws_connect(url, max_msg_size=0, autoping=False)
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        assert self._ws is not None
        try:
            async for msg in self._ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                data = msg.json()
                if "id" in data:
                    future = self._pending.pop(data["id"], None)
                    if future is not None and not future.done():
                        future.set_result(data)
                    continue
                for listener in list(self._listeners.get(data.get("sessionId", ""), ())):
                    listener(data.get("method", ""), data.get("params", {}))
        finally:
            self.closed = True
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(BrowserError("the browser connection closed"))
            self._pending.clear()

    async def send(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        session_id: str | None = None,
        *,
        timeout: float = 30.0,
    ) -> dict[str, Any]:
        """Send one command and return its ``result`` (raise :class:`CdpError` on an error)."""
        if self._ws is None or self.closed:
            raise BrowserError("the browser connection is closed")
        ident = next(self._ids)
        message: dict[str, Any] = {"id": ident, "method": method, "params": params or {}}
        if session_id:
            message["sessionId"] = session_id
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[ident] = future
        try:
            await self._ws.send_json(message)
            async with asyncio.timeout(timeout):
                answer = await future
        finally:
            self._pending.pop(ident, None)
        if "error" in answer:
            raise CdpError(f"{method}: {answer['error'].get('message', answer['error'])}")
        result: dict[str, Any] = answer.get("result", {})
        return result

    def listen(self, session_id: str, listener: Listener) -> None:
        """Call ``listener(method, params)`` for each event of ``session_id`` ("" = browser)."""
        self._listeners.setdefault(session_id, []).append(listener)

    def unlisten(self, session_id: str) -> None:
        """Forget the listeners of a session (when its page is closed)."""
        self._listeners.pop(session_id, None)

    async def new_context(self) -> str:
        """A fresh browser context: its own cookies and storage (see :meth:`dispose_context`)."""
        result = await self.send("Target.createBrowserContext", {"disposeOnDetach": True})
        context: str = result["browserContextId"]
        return context

    async def dispose_context(self, context: str) -> None:
        """Close a context and every page in it; its cookies go with it."""
        with contextlib.suppress(CdpError, BrowserError, TimeoutError):
            await self.send("Target.disposeBrowserContext", {"browserContextId": context})

    async def new_page(self, context: str | None = None, *, hidden: bool = False) -> Page:
        """Open a blank tab (in ``context`` when given) and attach to it."""
        params: dict[str, Any] = {"url": "about:blank", "hidden": hidden}
        if context:
            params["browserContextId"] = context
        target = (await self.send("Target.createTarget", params))["targetId"]
        attached = await self.send("Target.attachToTarget", {"targetId": target, "flatten": True})
        page = Page(self, target, attached["sessionId"])
        await page.send("Page.enable")
        return page

    def rss_bytes(self) -> int:
        """Resident memory (RSS sum) of the browser and all its child processes."""
        return process_tree_rss(self.proc.pid)

    def kill_ui_renderers(self) -> int:
        """End the renderers of the browser's own UI (``--top-chrome-webui``); return how many.

        Headless Chromium still builds a window per browser context, with an
        omnibox popup page in a renderer of its own (~120 MB RSS) that nothing
        here ever shows. Pages keep working without it, and it is not restarted.
        """
        killed = 0
        for pid in _descendants(self.proc.pid):
            with contextlib.suppress(OSError):
                # zygote children rewrite their title: one string, spaces, no NULs
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                if b"--type=renderer" in cmdline and b"--top-chrome-webui" in cmdline:
                    os.kill(pid, signal.SIGKILL)
                    killed += 1
        return killed

    def memory(self) -> tuple[int, int]:
        """``(rss, pss)`` of the browser's process tree (see :func:`process_tree_memory`)."""
        return process_tree_memory(self.proc.pid)

    async def aclose(self) -> None:
        """Close the connection, end the process group and remove the profile."""
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.close()
        if self._session is not None:
            await self._session.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                async with asyncio.timeout(5):
                    await self.proc.wait()
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                await self.proc.wait()
        shutil.rmtree(self._profile, ignore_errors=True)

    async def __aenter__(self) -> Browser:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class Page:
    """One tab, reached through its flattened session."""

    def __init__(self, browser: Browser, target_id: str, session_id: str) -> None:
        self.browser = browser
        self.target_id = target_id
        self.session_id = session_id
        self._waiters: list[tuple[str, asyncio.Future[dict[str, Any]]]] = []
        browser.listen(session_id, self._on_event)

    def _on_event(self, method: str, params: dict[str, Any]) -> None:
        for name, future in list(self._waiters):
            if name == method and not future.done():
                future.set_result(params)

    def listen(self, listener: Listener) -> None:
        """Also call ``listener`` for every event of this page."""
        self.browser.listen(self.session_id, listener)

    async def send(
        self, method: str, params: dict[str, Any] | None = None, *, timeout: float = 30.0
    ) -> dict[str, Any]:
        """Send a command to this page."""
        return await self.browser.send(method, params, self.session_id, timeout=timeout)

    def expect(self, method: str) -> asyncio.Future[dict[str, Any]]:
        """A future for the next ``method`` event (create it before the action that fires it)."""
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters.append((method, future))
        future.add_done_callback(lambda f: self._waiters.remove((method, f)))
        return future

    async def goto(self, url: str, *, timeout: float = 30.0) -> dict[str, Any]:
        """Navigate and wait for the load event; return ``Page.navigate``'s result."""
        loaded = self.expect("Page.loadEventFired")
        try:
            result = await self.send("Page.navigate", {"url": url}, timeout=timeout)
            if result.get("errorText"):
                return result
            async with asyncio.timeout(timeout):
                await loaded
            return result
        finally:
            loaded.cancel()

    async def evaluate(self, expression: str, *, timeout: float = 30.0) -> Any:
        """The value of a JavaScript expression (promises awaited); raise on an exception."""
        result = await self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            timeout=timeout,
        )
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise CdpError(f"evaluate: {text}")
        return result.get("result", {}).get("value")

    async def wait_for(self, expression: str, *, timeout: float = 30.0) -> Any:
        """Poll ``expression`` until it is truthy; return its value."""
        async with asyncio.timeout(timeout):
            while True:
                value = await self.evaluate(expression, timeout=timeout)
                if value:
                    return value
                await asyncio.sleep(0.05)

    async def screenshot(self, *, full_page: bool = False, timeout: float = 30.0) -> bytes:
        """A PNG of the viewport (or of the whole page)."""
        import base64

        params: dict[str, Any] = {"format": "png"}
        if full_page:
            params["captureBeyondViewport"] = True
            metrics = await self.send("Page.getLayoutMetrics", timeout=timeout)
            size = metrics.get("cssContentSize") or metrics["contentSize"]
            height = min(int(size["height"]), 16384)
            width = min(int(size["width"]), 4096)
            params["clip"] = {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}
        result = await self.send("Page.captureScreenshot", params, timeout=timeout)
        return base64.b64decode(result["data"])

    async def close(self) -> None:
        """Close the tab."""
        self.browser.unlisten(self.session_id)
        with contextlib.suppress(CdpError, BrowserError, TimeoutError):
            await self.browser.send("Target.closeTarget", {"targetId": self.target_id}, timeout=5)


def process_tree_rss(pid: int) -> int:
    """Sum of VmRSS (bytes) of ``pid`` and its descendants, read from /proc.

    Shared pages (the browser binary, fonts) count once per process here.
    """
    return process_tree_memory(pid)[0]


def process_tree_memory(pid: int) -> tuple[int, int]:
    """``(rss, pss)`` in bytes summed over ``pid`` and its descendants, from /proc.

    PSS divides each shared page among the processes mapping it, so its sum is
    what the tree really costs; the RSS sum counts shared pages again in every
    process (Chromium's renderers share most of their ~100 MB).
    """
    rss = pss = 0
    for current in _descendants(pid):
        with contextlib.suppress(OSError, ValueError, IndexError):
            for line in Path(f"/proc/{current}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1]) * 1024
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1]) * 1024
    return rss, pss


def _descendants(pid: int) -> list[int]:
    """``pid`` and every process below it, from the parent links in /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            stat = Path(f"/proc/{entry}/stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, ()))
    return found
