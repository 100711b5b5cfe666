"""Screenshots of web pages with headless Chromium: a bounded pool of tabs in one browser.

Safety rules, each enforced twice where the browser allows it:

- only ``http``/``https``: the URL is checked before navigating, document
  requests to any other scheme are failed through ``Fetch.requestPaused``, and
  a page that still ends on another scheme is not captured;
- no state between hosts: every page opens in a new browser context (its own
  cookies, storage and cache), disposed when the shot is taken;
- the browser reaches hosts through a small SOCKS5 relay of ours, which
  connects a name to the address the probe used (the record's ``ip``), so the
  browser never resolves names itself and sees the same server the probe saw.

The browser is restarted when it dies or its process tree grows past
``max_memory`` (its PSS, read from /proc): all tabs are drained first.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .cdp import Browser, BrowserError, CdpError, Page

__all__ = ["ScreenshotOptions", "Screenshotter", "Shot", "shot_path"]

_WEB = ("http", "https")
_CHECK_EVERY = 16  # shots between two memory checks


@dataclass(frozen=True, kw_only=True)
class ScreenshotOptions:
    """How screenshots are taken: where to, how many tabs, how long, how big."""

    directory: str
    tabs: int = 4
    timeout: float = 15.0
    width: int = 1280
    height: int = 800
    full_page: bool = False
    max_memory: int = 1024 * 2**20  # PSS of the browser's process tree
    executable: str | None = None


@dataclass(frozen=True)
class Shot:
    """The outcome of one screenshot: the PNG's path, or why there is none."""

    path: str | None
    error: str | None = None  # an ErrorKind value
    detail: str = ""


def shot_path(directory: str, url: str) -> str:
    """Where the PNG of ``url`` is stored: the URL's sha256 (first 32 hex digits)."""
    return os.path.join(directory, hashlib.sha256(url.encode()).hexdigest()[:32] + ".png")


class _Relay:
    """A SOCKS5 server on 127.0.0.1 that connects names to the addresses it was told."""

    def __init__(self) -> None:
        self.addresses: dict[str, str] = {}
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def aclose(self) -> None:
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    await self.server.wait_closed()

    def _address(self, host: str) -> str | None:
        with contextlib.suppress(ValueError):
            return str(ipaddress.ip_address(host.strip("[]")))
        return self.addresses.get(host.lower().rstrip("."))

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(10):
                head = await reader.readexactly(2)
                await reader.readexactly(head[1])
                writer.write(b"\x05\x00")
                _, cmd, _, atyp = await reader.readexactly(4)
                if atyp == 1:
                    host = str(ipaddress.IPv4Address(await reader.readexactly(4)))
                elif atyp == 4:
                    host = str(ipaddress.IPv6Address(await reader.readexactly(16)))
                else:
                    host = (await reader.readexactly((await reader.readexactly(1))[0])).decode()
                (port,) = struct.unpack("!H", await reader.readexactly(2))
                address = self._address(host) if cmd == 1 else None
                if address is None:
                    writer.write(b"\x05\x04\x00\x01" + bytes(6))  # host unreachable
                    return
                up_reader, up_writer = await asyncio.open_connection(address, port)
            writer.write(b"\x05\x00\x00\x01" + bytes(6))
            async with asyncio.TaskGroup() as tg:
                tg.create_task(_pipe(reader, up_writer))
                tg.create_task(_pipe(up_reader, writer))
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError, UnicodeError):
            with contextlib.suppress(OSError):
                writer.write(b"\x05\x05\x00\x01" + bytes(6))
        finally:
            writer.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            writer.close()


class Screenshotter:
    """Take screenshots with one browser and at most ``tabs`` pages at a time.

    Example::

        async with Screenshotter(ScreenshotOptions(directory="shots")) as shooter:
            shot = await shooter.shoot("http://127.0.0.1:8080/", ip="127.0.0.1")
    """

    def __init__(self, options: ScreenshotOptions) -> None:
        self.options = options
        self._browser: Browser | None = None
        self._generation = 0
        self._slots = asyncio.Semaphore(options.tabs)
        self._restart_lock = asyncio.Lock()
        self._relay = _Relay()
        self._shots = 0
        self.restarts = 0
        self.peak_rss = 0
        self.peak_pss = 0

    async def start(self) -> None:
        """Start the relay and the browser."""
        os.makedirs(self.options.directory, exist_ok=True)
        await self._relay.start()
        self._browser = await self._launch()

    async def _launch(self) -> Browser:
        browser = await Browser.launch(
            self.options.executable,
            extra_args=(
                f"--proxy-server=socks5://127.0.0.1:{self._relay.port}",
                "--proxy-bypass-list=<-loopback>",
                f"--window-size={self.options.width},{self.options.height}",
            ),
        )
        # The first blank tab is never used: closing it frees its renderer processes.
        with contextlib.suppress(CdpError):
            for target in (await browser.send("Target.getTargets"))["targetInfos"]:
                if target["type"] == "page":
                    await browser.send("Target.closeTarget", {"targetId": target["targetId"]})
        # Each context's window gets UI pages nobody sees: end their renderers as they come.
        browser.listen("", lambda method, params: _on_target(browser, method, params))
        with contextlib.suppress(CdpError):
            await browser.send("Target.setDiscoverTargets", {"discover": True, "filter": [{}]})
        await asyncio.to_thread(browser.kill_ui_renderers)
        return browser

    async def aclose(self) -> None:
        """Close the browser and the relay."""
        if self._browser is not None:
            await self._browser.aclose()
            self._browser = None
        await self._relay.aclose()

    async def __aenter__(self) -> Screenshotter:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def shoot(self, url: str, *, ip: str | None = None) -> Shot:
        """Capture ``url`` (reaching its host at ``ip`` when given) into the directory."""
        parts = urlsplit(url)
        if parts.scheme.lower() not in _WEB or not parts.hostname:
            return Shot(None, "blocked_scheme", f"not a web URL: {url[:200]}")
        if ip:
            self._relay.addresses[parts.hostname.lower().rstrip(".")] = ip
        for attempt in range(2):
            generation = self._generation
            try:
                async with self._slots:
                    browser = self._browser
                    if browser is None or browser.closed:
                        raise BrowserError("the browser is not running")
                    shot = await self._shoot(browser, url)
            except (BrowserError, CdpError) as exc:
                if attempt == 0:
                    await self._restart(generation)
                    continue
                return Shot(None, "internal", f"browser: {exc}")
            break
        self._shots += 1
        if self._shots % _CHECK_EVERY == 0:
            await self._check_memory()
        return shot

    async def _check_memory(self) -> None:
        browser = self._browser
        if browser is None:
            return
        rss, pss = await asyncio.to_thread(browser.memory)
        self.peak_rss = max(self.peak_rss, rss)
        self.peak_pss = max(self.peak_pss, pss)
        if pss > self.options.max_memory:
            await self._restart(self._generation)

    async def _restart(self, generation: int) -> None:
        """Drain every tab, then start a new browser (once per generation)."""
        async with self._restart_lock:
            if generation != self._generation:
                return
            for _ in range(self.options.tabs):
                await self._slots.acquire()
            try:
                if self._browser is not None:
                    await self._browser.aclose()
                self._browser = await self._launch()
                self._generation += 1
                self.restarts += 1
            finally:
                for _ in range(self.options.tabs):
                    self._slots.release()

    async def _shoot(self, browser: Browser, url: str) -> Shot:
        context = await browser.new_context()
        try:
            page = await browser.new_page(context)
            try:
                return await self._capture(page, url)
            finally:
                await page.close()
        finally:
            await browser.dispose_context(context)

    async def _capture(self, page: Page, url: str) -> Shot:
        opts = self.options
        blocked: list[str] = []
        page.listen(lambda method, params: _on_paused(page, method, params, blocked))
        await page.send(
            "Fetch.enable", {"patterns": [{"urlPattern": "*", "resourceType": "Document"}]}
        )
        await page.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": opts.width, "height": opts.height, "deviceScaleFactor": 1, "mobile": False},
        )
        try:
            async with asyncio.timeout(opts.timeout):
                result = await page.goto(url, timeout=opts.timeout)
        except TimeoutError:
            return Shot(None, "timeout", f"page not loaded within {opts.timeout:g} s")
        if result.get("errorText"):
            kind = "blocked_scheme" if blocked else "protocol"
            return Shot(None, kind, str(result["errorText"]))
        history = await page.send("Page.getNavigationHistory")
        current = history["entries"][history["currentIndex"]]["url"]
        if blocked or urlsplit(current).scheme.lower() not in _WEB:
            return Shot(None, "blocked_scheme", f"navigation to {(blocked or [current])[0][:200]}")
        png = await page.screenshot(full_page=opts.full_page, timeout=opts.timeout)
        path = shot_path(opts.directory, url)
        await asyncio.to_thread(Path(path).write_bytes, png)
        return Shot(path)


def _on_target(browser: Browser, method: str, params: dict[str, Any]) -> None:
    """On a new browser-UI target, end the UI renderers once the process is up."""
    if method == "Target.targetCreated" and params["targetInfo"]["type"] == "browser_ui":
        _track(asyncio.get_running_loop().create_task(_trim(browser)))


async def _trim(browser: Browser) -> None:
    for delay in (0.2, 0.8):
        await asyncio.sleep(delay)
        if browser.closed:
            return
        await asyncio.to_thread(browser.kill_ui_renderers)


def _track(task: asyncio.Task[None]) -> None:
    _BACKGROUND.add(task)
    task.add_done_callback(_BACKGROUND.discard)


def _on_paused(page: Page, method: str, params: dict[str, Any], blocked: list[str]) -> None:
    """Let web document requests through; fail and remember any other scheme."""
    if method != "Fetch.requestPaused":
        return
    request_url = params["request"]["url"]
    ok = urlsplit(request_url).scheme.lower() in _WEB
    if not ok:
        blocked.append(request_url)
    command = "Fetch.continueRequest" if ok else "Fetch.failRequest"
    args: dict[str, Any] = {"requestId": params["requestId"]}
    if not ok:
        args["errorReason"] = "BlockedByClient"
    _track(asyncio.get_running_loop().create_task(_quietly(page.send(command, args, timeout=10))))


# Fetch answers and UI trims in flight, held here so the collector keeps them.
_BACKGROUND: set[asyncio.Task[None]] = set()


async def _quietly(call: Any) -> None:
    with contextlib.suppress(CdpError, BrowserError, TimeoutError):
        await call
