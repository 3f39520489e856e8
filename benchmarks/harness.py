"""What the browser benchmarks and the tests share: Debian's chromium with its flags, and a free local port.

Benchmarks import it as a sibling module (a script's folder is on its path); the tests' conftest puts this folder
on the path.
"""

from __future__ import annotations

import os
import socket

CHROMIUM = os.environ.get("CURATOR_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def free_port() -> int:
    """A loopback port nothing listens on now (for a server a test or benchmark starts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
