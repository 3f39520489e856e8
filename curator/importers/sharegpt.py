"""ShareGPT records (LLaMA-Factory's documented layout): `conversations` of `{from, value}` with
`human`/`user`, `gpt`/`assistant`, `function_call`, `observation`/`tool`/`function` and `system`
turns; `system` and `tools` (a JSON string) beside them. A `function_call` value is JSON text
`{"name", "arguments"}`, or a list of such calls. ToolLLaMA's ReAct-text assistant turns
(`Thought:/Action:/Action Input:`) are read too.

Each turn is rewritten as the OpenAI message it stands for and read by the one chat reader, so
ShareGPT follows exactly the same rules as OpenAI chat. Plain chats without tools are trajectories
too: their last reply is the final answer.
"""

from __future__ import annotations

from curator.importers.base import (
    Context,
    RecordError,
    bad,
    expect,
    kind,
    normalize_tools,
    optional_text,
    record_info,
)
from curator.importers.openai_chat import calls_from_json, chat_trajectory, read_chat
from curator.model import Trajectory

NAME = "sharegpt"

CONVERSATION_KEYS = ("conversations", "conversation")
ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
         "chatgpt": "assistant", "model": "assistant", "system": "system",
         "observation": "tool", "tool": "tool", "function": "tool",
         "function_call": "call", "tool_call": "call"}


def is_turns(value) -> bool:
    return (isinstance(value, list) and bool(value) and isinstance(value[0], dict)
            and "from" in value[0] and "value" in value[0])


def sniff(value) -> bool:
    return isinstance(value, dict) and any(is_turns(value.get(k)) for k in CONVERSATION_KEYS)


def as_message(turn, name: str) -> dict:
    """One `{from, value}` turn as the OpenAI message it stands for."""
    expect(turn, dict, name, "a turn object with 'from' and 'value'")
    speaker = turn.get("from")
    if speaker is None:
        raise bad(f"{name}.from", "missing")
    if not isinstance(speaker, str) or speaker.lower() not in ROLES:
        raise bad(f"{name}.from", f"unknown role {speaker!r}")
    role = ROLES[speaker.lower()]
    value = turn.get("value")
    if role == "call":
        calls = calls_from_json(value, f"{name}.value")
        return {"role": "assistant", "content": None, "tool_calls": [
            {"id": c.id, "function": {"name": c.name, "arguments": c.arguments}} for c in calls]}
    if role != "tool":  # tool results may be objects; the chat reader writes them as JSON
        expect(value, str, f"{name}.value", "text")
    return {"role": role, "content": value}


def parse(value, ctx: Context, where: str, key: str | None) -> list[Trajectory]:
    if not isinstance(value, dict):
        raise RecordError(f"expected a JSON object record, got {kind(value)}")
    name = next((k for k in CONVERSATION_KEYS if k in value), None)
    if name is None:
        raise RecordError("no 'conversations' list of {from, value} turns")
    turns = expect(value[name], list, name, "a list of {from, value} turns")
    chat = read_chat([as_message(t, f"{name}[{i}]") for i, t in enumerate(turns)], name)
    tools = normalize_tools(value.get("tools"), "tools")
    system = optional_text(value.get("system"), "system")
    return [chat_trajectory(chat, ctx, where, name, record_info(value, key), tools, system)]
