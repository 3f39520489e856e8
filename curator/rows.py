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


def salvage_row(task: Task, tools: str, turns: list[dict], at: int, *, row_id: str, task_key: str) -> dict:
    """Prefix salvage of a failure whose first faulty turn is at position `at`: the whole
    conversation, each assistant turn flagged `training` (true before `at`, false from it on)."""
    messages = [
        {**turn_message(t), "training": i < at} if t["role"] == "assistant" else turn_message(t)
        for i, t in enumerate(turns)
    ]
    return {
        "messages": task_messages(task) + messages,
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


def prm_row(
    task: Task, tools: str, turns: list[dict], first_bad: int | None, *, row_id: str, task_key: str
) -> dict:
    """Stepwise supervision (TRL's `prompt` / `completions` / `labels`, for process reward models):
    the task as the prompt, each assistant step with the tool results that answered it as one
    completion, labelled true before the first faulty step `first_bad` and false from it on (all
    true for an accepted trajectory, `first_bad` None)."""
    messages = [turn_message(t) for t in turns]
    first = next((i for i, m in enumerate(messages) if m["role"] == "assistant"), len(messages))
    steps: list[list[dict]] = []
    for m in messages[first:]:
        if m["role"] == "assistant":
            steps.append([m])
        else:
            steps[-1].append(m)
    return {
        "prompt": "\n\n".join(m["content"] for m in task_messages(task) + messages[:first] if m["content"]),
        "completions": [step_text(step) for step in steps],
        "labels": [first_bad is None or k < first_bad for k in range(len(steps))],
        "tools": tools,
        "row_id": row_id,
        "task_key": task_key,
    }


def step_text(step: list[dict]) -> str:
    """One step as text: the assistant's thought or answer, each tool call as a `<tool_call>`
    block, then each result that answered it as a `<tool_response>` block."""
    assistant, *results = step
    calls = [
        "<tool_call>\n"
        + orjson.dumps({"name": c["function"]["name"], "arguments": c["function"]["arguments"]}).decode()
        + "\n</tool_call>"
        for c in assistant["tool_calls"] or ()
    ]
    answers = [f"<tool_response>\n{m['content']}\n</tool_response>" for m in results]
    return "\n".join(filter(None, [assistant["content"], *calls, *answers]))


def line(row: dict) -> bytes:
    """A row as one JSON Lines line, as the export writes it."""
    return orjson.dumps(row, option=orjson.OPT_APPEND_NEWLINE)
