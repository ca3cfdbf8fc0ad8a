"""A page loaded in headless Chromium, for the report's browser tests.

``--dump-dom`` gives the DOM after the page's scripts ran; ``--enable-logging=stderr`` puts
every console message (``console.error``, an uncaught exception) on stderr as a
``CONSOLE`` line. The report writes nothing to the console, so any such line is a fault.
CI sets ``GRAPHSPEC_REQUIRE_BROWSER`` (``.ci/run``): there a missing browser fails the test
instead of skipping it, so the check cannot quietly stop running.
"""

from __future__ import annotations

import base64
import io
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
REQUIRE = "GRAPHSPEC_REQUIRE_BROWSER"
CONSOLE = re.compile(r":CONSOLE[:(]|Uncaught")
PNG_URI = "data:image/png;base64,"


def browser() -> str:
    """The browser's path; skips the test without one, or fails it where CI requires one."""
    for name in BROWSERS:
        if path := shutil.which(name):
            return path
    if os.environ.get(REQUIRE, "") not in ("", "0"):
        pytest.fail(f"{REQUIRE} is set but no headless browser ({', '.join(BROWSERS)}) is on PATH")
    pytest.skip("no headless chromium/chrome on PATH")


@dataclass(frozen=True)
class Page:
    """What the browser made of a page: its DOM after the scripts ran, its console lines."""

    dom: str
    console: list[str]


def load(page: Path, profile: Path) -> Page:
    """``page`` loaded in headless Chromium (a fresh profile in ``profile``)."""
    command = [
        browser(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
        "--dump-dom",
        page.resolve().as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=90, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    console = [line for line in done.stderr.splitlines() if CONSOLE.search(line)]
    return Page(done.stdout, console)


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.sources.append(dict(attrs).get("src") or "")


def broken_images(dom: str) -> list[str]:
    """Every ``<img>`` that is not a PNG data URI decoding to a picture with pixels (its
    first 60 characters and why)."""
    parser = _Images()
    parser.feed(dom)
    broken = []
    for source in parser.sources:
        try:
            assert source.startswith(PNG_URI), "not a PNG data URI"
            data = base64.b64decode(source[len(PNG_URI) :], validate=True)
            with Image.open(io.BytesIO(data)) as image:
                image.load()
                assert image.format == "PNG" and image.width > 0 and image.height > 0
        except Exception as exc:  # noqa: BLE001 - any failure makes the image broken
            broken.append(f"{source[:60]}: {exc or type(exc).__name__}")
    return broken


def image_count(dom: str) -> int:
    parser = _Images()
    parser.feed(dom)
    return len(parser.sources)
