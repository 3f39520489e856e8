"""One exported row as a plain value, built from stored turns: the readable twin of `curator.export`.

The export is a fast path: it joins the message JSON texts stored with each revision, cut by
DuckDB, without turning a turn into a Python object. These functions build the same rows the
obvious way (render each stored turn with `messages.turn_message`, put the row together as a
dict), and a test holds every file the export writes byte-identical to `line(row)` of these rows
(`tests/test_export_twin.py`). Read here what a row is; read `curator.export` for how it is fast.

`tools` is the task's stored tool list as JSON text; a row holds it as a JSON string.
"""

from __future__ import annotations

import orjson

from curator.messages import task_messages, turn_message
from curator.model import Task


def prompt(task: Task, turns: list[dict], at: int) -> list[dict]:
    """What the model sees before turn position `at`: the task's messages, then the turns before it."""
    return task_messages(task) + [turn_message(t) for t in turns[:at]]


def sft_row(task: Task, tools: str, turns: list[dict], *, row_id: str, task_key: str) -> dict:
    """An accepted or edited trajectory: the whole conversation."""
    return {
        "messages": prompt(task, turns, len(turns)),
        "tools": tools,
        "row_id": row_id,
        "task_key": task_key,
    }


def dpo_row(
    task: Task, tools: str, chosen: list[dict], rejected: list[dict], at: int, *, row_id: str, task_key: str
) -> dict:
    """Two trajectories of one task that agree before turn position `at`: the shared prompt (from
    the chosen one), then each one's assistant turn at `at`; never a tool result."""
    return {
        "prompt": prompt(task, chosen, at),
        "chosen": [turn_message(chosen[at])],
        "rejected": [turn_message(rejected[at])],
        "tools": tools,
        "row_id": row_id,
        "task_key": task_key,
    }


def kto_row(task: Task, tools: str, turns: list[dict], at: int, tags, *, row_id: str, task_key: str) -> dict:
    """A failure: the trajectory before its first faulty turn (position `at`), and that turn as an
    undesirable completion with the failure's tags."""
    return {
        "prompt": prompt(task, turns, at),
        "completion": [turn_message(turns[at])],
        "label": False,
        "tags": list(tags),
        "tools": tools,
        "row_id": row_id,
        "task_key": task_key,
    }


def line(row: dict) -> bytes:
    """A row as one JSON Lines line, as the export writes it."""
    return orjson.dumps(row, option=orjson.OPT_APPEND_NEWLINE)
