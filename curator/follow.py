"""Following a run folder while the job writes it: each call reads only the bytes appended since the last.

The Train tab polls a running job every few seconds; re-reading and re-parsing a whole metrics log and log
file each time competes with the training for the CPU. Here each followed file keeps its offset, so a poll
costs a `stat` when nothing changed and the new lines otherwise. `stamp` says whether anything changed at
all, so the tab redraws only then.

The log is shown cleaned: library warnings (`...: FutureWarning: ...` and the source line after it) are left
out, tqdm's carriage-return redraws keep their last state, ANSI cursor codes are dropped, and a progress bar
reads as "desc: 3/8 (38%) · 00:12 elapsed, 00:20 left" with one line per bar. The file itself is untouched.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from trainer.runfolder import LOG, METRICS, RESULT, TRAIN

FIRST_READ = 64 * 1024  # a log followed from its end: older lines are not shown anyway
KEPT_LINES = 200
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
WARNING = re.compile(r"^\S.*?:\d+: [A-Za-z]*Warning: ")
BAR = re.compile(
    r"^(?:(?P<desc>.*?):\s*)?(?P<pct>\d+)%\|[^|]*\|\s*(?P<n>\d+)/(?P<total>\d+)\s*"
    r"\[(?P<elapsed>[\d:]+)<(?P<left>[\d:?]+)"
)
STAGE = re.compile(r"^(?P<stage>sft|dpo|kto): training on \d+ rows")


class Growing:
    """One file being appended to: `new_lines` gives the lines completed since the last call."""

    def __init__(self, path: Path, start_near_end: bool = False):
        self.path, self.offset, self.partial = path, None, b""
        self.start_near_end = start_near_end

    def size(self) -> int:
        try:
            return os.stat(self.path).st_size
        except OSError:
            return 0

    def new_lines(self) -> list[bytes]:
        size = self.size()
        if self.offset is None or size < self.offset:  # first read, or the file was replaced
            self.offset = max(0, size - FIRST_READ) if self.start_near_end else 0
            self.partial = b""
        if size == self.offset:
            return []
        with open(self.path, "rb") as fh:
            fh.seek(self.offset)
            data = self.partial + fh.read(size - self.offset)
        self.offset = size
        *lines, self.partial = data.split(b"\n")
        return lines


@dataclass
class LogView:
    """A run's log as shown: the last cleaned lines, the stage it trains (from "sft: training on N rows"),
    and the last progress bar seen since that stage started: (desc, n, total)."""

    lines: deque = field(default_factory=lambda: deque(maxlen=KEPT_LINES))
    stage: str | None = None
    bar: tuple[str, int, int] | None = None
    last_is_bar: bool = False  # the last line shown is `bar`: the same bar again replaces it
    in_warning: bool = False

    def add(self, raw: str) -> None:
        drawn = [part for part in ANSI.sub("", raw).split("\r") if part.strip()]
        line = drawn[-1].rstrip() if drawn else ""  # the last state of a redrawn line (a cleared bar: before)
        if WARNING.match(line):
            self.in_warning = True
            return
        if (self.in_warning and line[:1].isspace()) or not line:
            return  # the source line a warning quotes; an empty redraw
        self.in_warning = False
        if match := BAR.match(line.lstrip()):
            desc = match["desc"] or "progress"
            if self.last_is_bar and self.bar and self.bar[0] == desc:
                self.lines.pop()  # the same bar again (nested bars redraw on new lines)
            self.bar = (desc, int(match["n"]), int(match["total"]))
            left = "" if match["left"] == "?" else f", {match['left']} left"
            line = (
                f"{desc}: {match['n']}/{match['total']} ({match['pct']}%) · {match['elapsed']} elapsed{left}"
            )
        elif match := STAGE.match(line):
            self.stage, self.bar = match["stage"], None
        self.last_is_bar = bool(match and match.re is BAR)
        self.lines.append(line)

    def with_partial(self, partial: str, keep: int) -> LogView:
        """A copy of the last `keep` lines and the state, with the line being redrawn now added."""
        view = LogView(
            deque(list(self.lines)[-keep:], maxlen=keep + 1), self.stage, self.bar, self.last_is_bar
        )
        view.in_warning = self.in_warning
        view.add(partial)
        return view

    def tail(self, n: int) -> str:
        return "\n".join(list(self.lines)[-n:])


class _Followed:
    def __init__(self, folder: Path):
        self.metrics_file = Growing(folder / TRAIN / METRICS)
        self.log_file = Growing(folder / LOG, start_near_end=True)
        self.metrics: list[dict] = []
        self.log = LogView()
        self.lock = threading.Lock()


_followed: dict[str, _Followed] = {}
_registry = threading.Lock()


def _follow(folder) -> _Followed:
    key = str(Path(folder).resolve())
    with _registry:
        if key not in _followed:
            _followed[key] = _Followed(Path(key))
        return _followed[key]


def metrics(folder) -> list[dict]:
    """The trainer's metrics log so far (one object per logging step), for live curves."""
    f = _follow(folder)
    with f.lock:
        for line in f.metrics_file.new_lines():
            try:
                f.metrics.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # not a record (an interrupted write)
        return list(f.metrics)


def log(folder, lines: int = 16) -> tuple[str, LogView]:
    """The last `lines` cleaned lines of the run's log (with the line being redrawn now), and the view
    (stage, last progress bar) they come from."""
    f = _follow(folder)
    with f.lock:
        for line in f.log_file.new_lines():
            f.log.add(line.decode("utf-8", "replace"))
        view = f.log.with_partial(f.log_file.partial.decode("utf-8", "replace"), lines)
        return view.tail(lines), view


def stamp(folder) -> tuple:
    """Changes whenever the run folder shows something new: metrics, log, result."""
    f = _follow(folder)
    return f.metrics_file.size(), f.log_file.size(), (Path(folder) / RESULT).is_file()
