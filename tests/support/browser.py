"""Headless Chromium (Debian's /usr/bin/chromium, `make browser`) driven by playwright, for
tests that look at a page as a person would: what it loads, what its scripts say, what it shows."""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
# The machine's network is closed: without the background-networking flags Chromium waits on
# refused connections (updates, sync, field trials) before it does anything.
ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
VIEWPORT = {"width": 1400, "height": 900}


class BrowserMissing(Exception):
    pass


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """A launched browser; BrowserMissing names the command that installs what is missing."""
    if not os.access(CHROMIUM, os.X_OK):
        raise BrowserMissing(f"{CHROMIUM} not found: `make browser` installs Debian's chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        raise BrowserMissing(f"playwright not importable ({exc}): `make venv` installs the test extras") from exc
    # Playwright's own browser builds are never downloaded: the one Debian ships runs.
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=list(ARGS))
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Problems:
    """What went wrong while a page loaded: its scripts' errors and what it asked of the network."""

    script_errors: list[str] = field(default_factory=list)
    console_errors: list[tuple[str, str]] = field(default_factory=list)  # (text, url it is about)
    outside_requests: list[str] = field(default_factory=list)

    def watch(self, page: Any) -> None:
        page.on("pageerror", self._script_error)
        page.on("console", self._console)
        page.on("request", self._request)

    def _script_error(self, error: Any) -> None:
        self.script_errors.append(str(error))

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.console_errors.append((message.text, message.location.get("url", "")))

    def _request(self, request: Any) -> None:
        if not request.url.startswith("file:"):
            self.outside_requests.append(request.url)


def open_file(browser: Any, path: Path) -> tuple[Any, Problems]:
    """A new page showing the local file `path`, loaded, and what went wrong on the way."""
    page = browser.new_page(viewport=VIEWPORT)
    problems = Problems()
    problems.watch(page)
    page.goto(path.resolve().as_uri(), wait_until="load", timeout=30_000)
    return page, problems


def pixels_of(png: bytes, colors: set[tuple[int, int, int]]) -> int:
    """How many pixels of the screenshot `png` have exactly one of `colors` (solid fills)."""
    from PIL import Image  # Pillow: a dependency of bokeh

    image = Image.open(io.BytesIO(png)).convert("RGB")
    return sum(count for count, rgb in image.getcolors(maxcolors=1 << 24) if rgb in colors)
