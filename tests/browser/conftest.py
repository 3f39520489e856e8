"""Browser-test fixtures: a real `curator serve` subprocess on a free port, Debian's chromium
driven by Playwright (from PyPI), and a way to read the store once the server has stopped.

DuckDB allows one writer per file, so a test stops the server (SIGTERM: the app closes the store
cleanly) before it opens the file to check the events written.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import duckdb
import pytest
from conftest import CHROMIUM, CHROMIUM_ARGS, ROOT, SAMPLE, free_port

SCREENSHOTS = os.environ.get("CURATOR_SCREENSHOTS")  # a folder: tests save a view of each tab


class Server:
    """`curator serve` on a store file, in a subprocess, until `stop()`."""

    def __init__(self, db: Path, *args: str):
        self.db = db
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log = db.with_suffix(".serve.log")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "curator", "serve", "--db", str(db), "--port", str(self.port), *args],
            cwd=ROOT,
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"curator serve exited {self.proc.returncode}:\n{self.log.read_text()}")
            try:
                urllib.request.urlopen(self.url, timeout=1)
                return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise AssertionError(f"curator serve did not answer in 60 s:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def events(self) -> list[dict]:
        """The store's events (stops the server first: one writer per file)."""
        self.stop()
        with duckdb.connect(str(self.db), read_only=True) as con:
            cur = con.execute("SELECT * FROM events ORDER BY event_id")
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    def query(self, sql: str, params=()) -> list[tuple]:
        self.stop()
        with duckdb.connect(str(self.db), read_only=True) as con:
            return con.execute(sql, params).fetchall()


@pytest.fixture
def serve(tmp_path):
    """Start servers: `serve(records_file=SAMPLE, *args)`; all are stopped after the test."""
    servers = []

    def start(source: Path | None = SAMPLE, *args: str, db: Path | None = None) -> Server:
        db = db or tmp_path / f"store{len(servers)}.duckdb"
        if source is not None:
            from curator.ingest import import_file
            from curator.store import Store

            with Store(db) as store:
                import_file(store, str(source))
        server = Server(db, *args)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium (or set CURATOR_CHROMIUM)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page_of(browser):
    """New pages in separate contexts (separate cookies: separate reviewers), with a record of
    anything the page ran that it should not have: dialogs and page errors."""
    contexts = []

    def open_page(url: str):
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        contexts.append(context)
        page = context.new_page()
        page.incidents = []
        page.on("dialog", lambda d: (page.incidents.append(f"dialog: {d.message}"), d.dismiss()))
        page.on("pageerror", lambda e: page.incidents.append(f"page error: {e}"))
        page.goto(url)
        return page

    yield open_page
    for context in contexts:
        context.close()


def screenshot(page, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"))


def shows(page, selector: str, text: str, timeout_s: float = 30, message: str | None = None) -> None:
    """Wait until the element shows `text` (it may not be there yet); on a timeout, say what it shows instead
    (and what the `message` element says: the tab's error, usually)."""
    from playwright.sync_api import TimeoutError

    try:
        page.wait_for_function(
            "([s, t]) => (document.querySelector(s)?.innerText || '').includes(t)",
            arg=[selector, text],
            timeout=timeout_s * 1000,
        )
    except TimeoutError:
        said = f"; {message} says {page.inner_text(message)!r}" if message else ""
        raise AssertionError(
            f"{selector} never showed {text!r} in {timeout_s} s; it shows {page.inner_text(selector)!r}{said}"
        ) from None
