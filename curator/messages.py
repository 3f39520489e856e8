"""Stored turns as the chat messages a model trains on, and the keys that pairs compare them by.

Both are computed once per turn, when a revision is written (import, edit; migration 3 for older
stores), and stored beside its turns as `revisions.messages` (each turn's exported message as
JSON text) and `revisions.turn_keys`. An export then compares short keys and joins stored JSON
instead of parsing, comparing and rendering every turn it writes. A change to either rule here
needs a store migration that recomputes both columns.
"""

from __future__ import annotations

import hashlib
import json

import orjson

from curator.model import Task, assistant_text

ASSISTANT = "a"  # the initial of the role, which starts every turn key


def message(
    role: str,
    content: str,
    tool_calls: list | None = None,
    tool_call_id: str | None = None,
    name: str | None = None,
) -> dict:
    """The one shape of every exported message: always these five keys, None where unused.

    Why: `datasets` JSON-encodes a list of objects whose key sets differ, and turns arguments of
    different shapes into None-padded structs; one flat shape, with tool-call arguments (and so
    every nested value) as JSON strings, loads the same way everywhere."""
    return {
        "role": role,
        "content": content,
        "tool_calls": tool_calls,
        "tool_call_id": tool_call_id,
        "name": name,
    }


def _call(i: int, call_id: str | None, name: str, arguments) -> dict:
    return {
        "id": call_id or f"call_{i}",
        "type": "function",
        "function": {"name": name, "arguments": json_string(arguments)},
    }


def flat_message(chat: dict) -> dict:
    """An OpenAI chat message (a rehearsal row's) in the exported shape."""
    calls = [
        _call(i, c.get("id"), c["function"]["name"], c["function"].get("arguments", {}))
        for i, c in enumerate(chat.get("tool_calls") or ())
    ]
    return message(
        chat["role"], chat.get("content") or "", calls or None, chat.get("tool_call_id"), chat.get("name")
    )


def turn_message(turn: dict) -> dict:
    """A stored turn dict as the chat message a model trains on, in the exported shape: the
    assistant says its thought, then its reply (`assistant_text`), then its calls."""
    role, content = turn["role"], turn.get("content") or ""
    if role == "assistant":
        calls = [
            _call(i, c.get("id"), c["name"], c.get("arguments", {}))
            for i, c in enumerate(turn.get("tool_calls") or ())
        ]
        return message(role, assistant_text(turn.get("thought") or "", content), calls or None)
    if role == "tool":
        return message(role, content, None, turn.get("tool_call_id") or None, turn.get("name") or None)
    return message("user", content)


def task_messages(task: Task) -> list[dict]:
    """The messages before a task's first turn: its system prompt, then its instruction (with
    the context appended)."""
    instruction = task.instruction if not task.context else f"{task.instruction}\n\n{task.context}"
    return ([message("system", task.system)] if task.system else []) + [message("user", instruction)]


_ARGUMENTS = json.JSONEncoder(ensure_ascii=False, sort_keys=True).encode


def json_string(value) -> str:
    """Arguments that are already a string (what the teacher wrote, if not JSON) stay as they are.

    Objects are written as Python's `json.dumps` writes them, which is what chat templates'
    `tojson` writes: a template that prints the string verbatim and one that parses it and prints
    `tojson` then render the same text, so every reader trains on the same tokens. Keys are
    sorted, as the store keeps imported turns, so a turn renders the same text however it was
    written (import, an edit, a rehearsal file)."""
    return value if isinstance(value, str) else _ARGUMENTS(value)


def turn_key(message: dict) -> str:
    """What makes two turns the same for pairing, as a short string: the role's initial, then a
    128-bit hash of the message a model trains on (`turn_message`) without call ids (two runs
    name their calls differently; that is not a difference a model should learn)."""
    calls = message["tool_calls"]
    content = orjson.dumps(
        [message["content"], [c["function"] for c in calls] if calls else None, message["name"]]
    )
    return message["role"][0] + hashlib.blake2b(content, digest_size=16).hexdigest()


def rendered(turns: list[dict]) -> tuple[list[bytes], list[str]]:
    """A revision's stored columns `messages` (each `turn_message` as UTF-8 JSON, which Arrow
    stores without the copy a `str` costs) and `turn_keys`, from its stored turn dicts."""
    messages = [turn_message(t) for t in turns]
    return [orjson.dumps(m) for m in messages], [turn_key(m) for m in messages]
