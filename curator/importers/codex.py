"""Codex CLI rollouts (`~/.codex/sessions/.../rollout-*.jsonl`): one line an event.

`response_item` lines hold the conversation as the model saw it, as OpenAI Responses API items:
`message` (roles `developer`/`system`: the system prompt; `user`; `assistant`), `reasoning`
(its summary and text: the step's thought; encrypted content is not readable and is left out),
`function_call {name, arguments, call_id}` / `function_call_output {call_id, output}`,
`custom_tool_call {name, input}` / `custom_tool_call_output`, `local_shell_call {action}` /
`local_shell_call_output`, `web_search_call`. Calls and outputs pair by `call_id`. Older
rollouts write the items as the lines themselves (no `response_item` wrapper); both are read.
`session_meta` (or an older rollout's header line `{id, timestamp, instructions}`; its
`{"record_type": "state"}` markers are skipped) gives the session id and base instructions,
`turn_context` the model. `event_msg` lines repeat what the items say for the terminal UI and are
not read as messages (counted in meta).

One trajectory per rollout file.
"""

from __future__ import annotations

from collections import Counter

from curator.importers.base import Context, RecordError, RecordInfo, as_text, join
from curator.importers.files import Record
from curator.importers.openai_chat import chat_trajectory, read_chat, read_content
from curator.model import Trajectory

NAME = "codex"

WRAPPERS = {"session_meta", "response_item", "event_msg", "turn_context", "compacted"}
ITEMS = {
    "message",
    "reasoning",
    "function_call",
    "function_call_output",
    "custom_tool_call",
    "custom_tool_call_output",
    "local_shell_call",
    "local_shell_call_output",
    "web_search_call",
}
CALLS = {"function_call", "custom_tool_call", "local_shell_call", "web_search_call"}
OUTPUTS = {"function_call_output", "custom_tool_call_output", "local_shell_call_output"}


def sniff(value) -> bool:
    if not isinstance(value, dict):
        return False
    if value.get("type") in WRAPPERS and isinstance(value.get("payload"), dict):
        return True
    return value.get("type") in ITEMS and ("call_id" in value or "role" in value or "summary" in value)


def groups(records: list[Record]) -> list[tuple[str, list[Record]]]:
    if not records:
        return []
    return [(f"lines {records[0].where.split()[-1]}-{records[-1].where.split()[-1]}", records)]


class Rollout:
    """Items into OpenAI chat messages: an assistant message collects the reasoning, text and
    calls that come before the next output or user message."""

    def __init__(self):
        self.messages: list[dict] = []
        self.system: list[str] = []
        self.info = RecordInfo()
        self.skipped: Counter = Counter()
        self.open: dict | None = None  # the assistant message being collected

    def read(self, records: list[Record]) -> None:
        for record in records:
            line = record.value
            kind, payload = line.get("type"), line.get("payload")
            if kind == "response_item" and isinstance(payload, dict):
                self.item(payload, record.where)
            elif kind == "session_meta" and isinstance(payload, dict):
                self.session(payload)
            elif kind == "turn_context" and isinstance(payload, dict):
                self.info.teacher = self.info.teacher or payload.get("model")
            elif kind in ITEMS:
                self.item(line, record.where)
            elif "id" in line and "timestamp" in line and kind is None:  # an older rollout's header
                self.session(line)
            else:
                self.skipped[str(kind or "other")] += 1

    def session(self, meta: dict) -> None:
        if meta.get("id"):  # names the run, not a task: runs group by their task's content
            self.info.meta["session_id"] = meta["id"]
        base = meta.get("base_instructions", meta.get("instructions"))
        if isinstance(base, dict):
            base = base.get("text")
        if isinstance(base, str) and base:
            self.system.append(base)

    def item(self, item: dict, where: str) -> None:
        kind = item.get("type")
        if kind == "message":
            self.message(item, where)
        elif kind == "reasoning":
            parts = [p.get("text", "") for p in (item.get("summary") or []) + (item.get("content") or [])]
            self.assistant()["reasoning_content"] = join(
                self.assistant().get("reasoning_content"), *[p for p in parts if isinstance(p, str)]
            )
        elif kind in CALLS:
            self.assistant().setdefault("tool_calls", []).append(call(item))
        elif kind in OUTPUTS:
            self.open = None
            self.messages.append(
                {"role": "tool", "tool_call_id": item.get("call_id"), "content": as_text(item.get("output"))}
            )
        else:
            self.skipped[str(kind)] += 1

    def message(self, item: dict, where: str) -> None:
        role = item.get("role")
        text, _, _ = read_content(item.get("content"), f"{where}.content")
        if role in ("developer", "system") and not any(m["role"] != "system" for m in self.messages):
            self.system.append(text)
        elif role == "assistant":
            message = self.assistant()
            message["content"] = join(message.get("content"), text)
        else:
            self.open = None
            self.messages.append({"role": "system" if role == "developer" else role, "content": text})

    def assistant(self) -> dict:
        if self.open is None:
            self.open = {"role": "assistant", "content": ""}
            self.messages.append(self.open)
        return self.open


def call(item: dict) -> dict:
    """A call item as an OpenAI tool call; freeform and shell calls keep their input as it is."""
    kind = item.get("type")
    if kind == "function_call":
        name, arguments = item.get("name"), item.get("arguments")
    elif kind == "custom_tool_call":
        name, arguments = item.get("name"), item.get("input")
    elif kind == "local_shell_call":
        name, arguments = "local_shell", item.get("action")
    else:
        name, arguments = "web_search", item.get("action")
    return {
        "id": item.get("call_id") or item.get("id"),
        "type": "function",
        "function": {"name": name or kind, "arguments": arguments},
    }


def parse(group, ctx: Context, where: str, key: str | None) -> list[Trajectory]:
    rollout = Rollout()
    rollout.read(group)
    if not rollout.messages:
        raise RecordError("no response items (messages, calls) in this rollout")
    if rollout.skipped:
        rollout.info.meta["events_not_messages"] = dict(rollout.skipped)
    chat = read_chat(rollout.messages, "response_item")
    system = "\n\n".join(rollout.system) or None
    return [chat_trajectory(chat, ctx, where, "response_item", rollout.info, (), system)]
