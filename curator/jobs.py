"""The app's job processes (training runs, minimum-window curves, generation jobs): each `python -m MODULE
FOLDER` in a process session of its own, so the app stays responsive and the whole tree (the job and anything
it starts) can be ended; told alive by its pid and folder, also after an app restart.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

_started: dict[str, subprocess.Popen] = {}  # this process's children by folder, so they can be reaped


def spawn(module: str, folder: str | os.PathLike, log: str | os.PathLike) -> int:
    """Start `python -m module folder`, its output appended to `log`; returns its pid."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", module, str(folder)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    _started[str(folder)] = proc
    return proc.pid


def alive(pid: int, folder: str | os.PathLike) -> bool:
    proc = _started.get(str(folder))
    if proc is not None:
        return proc.poll() is None
    try:  # started by an earlier app process: check the pid still runs our job
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z" and str(folder) in cmdline


def end(pid: int, folder: str | os.PathLike, grace_s: float = 5.0) -> None:
    """End the job's whole process group: SIGTERM, then SIGKILL after `grace_s`; returns when it is gone."""
    if not alive(pid, folder):
        return
    _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while alive(pid, folder) and time.monotonic() < deadline:
        time.sleep(0.1)
    if alive(pid, folder):
        _signal_group(pid, signal.SIGKILL)
        while alive(pid, folder):
            time.sleep(0.05)


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


def read_json(path: Path) -> dict | None:
    """A JSON file a job writes; None while it is missing or unreadable."""
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
