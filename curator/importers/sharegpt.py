"""ShareGPT records (LLaMA-Factory's documented layout): `conversations` of `{from, value}` with
`human`/`user`, `gpt`/`assistant`, `function_call`, `observation`/`tool`/`function` and `system`
turns; `system` and `tools` (a JSON string) beside them. A `function_call` value is JSON text
`{"name", "arguments"}`, or a list of such calls. ToolLLaMA's ReAct-text assistant turns
(`Thought:/Action:/Action Input:`) are read too.

The turns are read by the one chat reader (with `from`/`value` as the role and content fields), so
ShareGPT follows exactly the same rules as OpenAI chat. Plain chats without tools are trajectories
too: their last reply is the final answer.
"""

from __future__ import annotations

from curator.importers.base import (
    Context,
    RecordError,
    expect,
    kind,
    normalize_tools,
    optional_text,
    record_info,
)
from curator.importers.openai_chat import chat_trajectory, read_chat
from curator.model import Trajectory

NAME = "sharegpt"

CONVERSATION_KEYS = ("conversations", "conversation")


def is_turns(value) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and isinstance(value[0], dict)
        and "from" in value[0]
        and "value" in value[0]
    )


def sniff(value) -> bool:
    return isinstance(value, dict) and any(is_turns(value.get(k)) for k in CONVERSATION_KEYS)


def parse(value, ctx: Context, where: str, key: str | None) -> list[Trajectory]:
    if not isinstance(value, dict):
        raise RecordError(f"expected a JSON object record, got {kind(value)}")
    name = next((k for k in CONVERSATION_KEYS if k in value), None)
    if name is None:
        raise RecordError("no 'conversations' list of {from, value} turns")
    turns = expect(value[name], list, name, "a list of {from, value} turns")
    chat = read_chat(turns, name, role_key="from", content_key="value")
    tools = normalize_tools(value.get("tools"), "tools")
    system = optional_text(value.get("system"), "system")
    return [chat_trajectory(chat, ctx, where, name, record_info(value, key), tools, system, value)]
