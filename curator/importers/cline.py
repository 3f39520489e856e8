"""Cline task histories: `api_conversation_history.json`, the Anthropic messages the model saw (a
JSON list of `{role, content}`, content text or blocks), one message a record.

Cline versions with native tool calling write `tool_use` / `tool_result` blocks (read by the chat
reader, paired by id). Earlier versions write each tool call as XML in the assistant's text
(`<read_file><path>src/a.ts</path></read_file>`, one a message) and the result as the next user
message (`[read_file for 'src/a.ts'] Result: ...`): the call becomes a tool call with its
parameters as arguments, the text before it (and `<thinking>`) the thought, and that user message
the result, paired by a generated id. `attempt_completion` is the final answer (its `result`).
The first user message (`<task>...</task>` with the environment details) is the task.

`ui_messages.json` beside it is the UI's copy of the same conversation (`{ts, type: say|ask}`):
it is reported, not imported, so nothing is stored twice.
"""

from __future__ import annotations

import re

from curator.importers.base import Context, RecordError, RecordInfo, join
from curator.importers.files import Record
from curator.importers.openai_chat import chat_trajectory, read_chat, read_content
from curator.model import Trajectory

NAME = "cline"

TOOLS = (
    "execute_command",
    "read_file",
    "write_to_file",
    "replace_in_file",
    "apply_diff",
    "search_files",
    "list_files",
    "list_code_definition_names",
    "browser_action",
    "use_mcp_tool",
    "access_mcp_resource",
    "ask_followup_question",
    "attempt_completion",
    "plan_mode_respond",
    "new_task",
    "load_mcp_documentation",
    "web_fetch",
)
TOOL_XML = re.compile(r"<(?P<tool>" + "|".join(TOOLS) + r")>(?P<body>.*?)</(?P=tool)>", re.DOTALL)
PARAM = re.compile(r"<(?P<name>[a-z_]+)>(?P<value>.*?)</(?P=name)>", re.DOTALL)
THINKING = re.compile(r"<thinking>(?P<text>.*?)</thinking>", re.DOTALL)
RESULT = re.compile(r"\A\s*\[(?P<tool>[a-z_]+)(?: for [^\]]*)?\] Result:", re.DOTALL)


def sniff(value) -> bool:
    if not isinstance(value, dict):
        return False
    if value.get("type") in ("say", "ask") and "ts" in value:  # ui_messages.json
        return True
    return value.get("role") in ("user", "assistant") and "content" in value and "messages" not in value


def groups(records: list[Record]) -> list[tuple[str, list[Record]]]:
    if not records:
        return []
    return [(f"{records[0].where} to {records[-1].where}", records)]


def xml_call(text: str, index: int) -> tuple[str, dict | None]:
    """An assistant text as (its text without the tool XML, the call as an OpenAI tool call)."""
    match = TOOL_XML.search(text)
    if match is None:
        return text, None
    params = {m["name"]: m["value"].strip() for m in PARAM.finditer(match["body"])}
    rest = (text[: match.start()] + text[match.end() :]).strip()
    call = {
        "id": f"cline_{index}",
        "type": "function",
        "function": {"name": match["tool"], "arguments": params},
    }
    return rest, call


def assistant(message: dict, where: str, index: int) -> dict:
    content = message.get("content")
    if isinstance(content, list) and any(
        isinstance(b, dict) and b.get("type") == "tool_use" for b in content
    ):
        return {"role": "assistant", "content": content}  # native tool calling
    text, reasoning, _ = read_content(content, f"{where}.content")
    thoughts = [m["text"].strip() for m in THINKING.finditer(text)]
    text = THINKING.sub("", text).strip()
    text, call = xml_call(text, index)
    out = {"role": "assistant", "content": text, "reasoning_content": join(reasoning, *thoughts)}
    if call and call["function"]["name"] == "attempt_completion":
        out["reasoning_content"] = join(out["reasoning_content"], text)
        out["content"] = call["function"]["arguments"].get("result", "")
    elif call:
        out["tool_calls"] = [call]
    return out


def to_chat(group: list[Record]) -> list[dict]:
    out: list[dict] = []
    waiting: dict | None = None
    for index, record in enumerate(group):
        message = record.value
        if message.get("type") in ("say", "ask"):
            raise RecordError(
                "this is Cline's ui_messages.json (the UI's copy of the conversation); "
                "import api_conversation_history.json from the same task folder"
            )
        if message.get("role") == "assistant":
            out.append(assistant(message, record.where, index))
            waiting = (out[-1].get("tool_calls") or [None])[0]
            continue
        text, _, _ = (
            read_content(message.get("content"), f"{record.where}.content")
            if not _results(message)
            else ("", "", [])
        )
        if waiting is not None and RESULT.match(text):
            out.append({"role": "tool", "tool_call_id": waiting["id"], "content": text})
        else:
            out.append({"role": message.get("role"), "content": message.get("content")})
        waiting = None
    return out


def _results(message: dict) -> bool:
    content = message.get("content")
    return isinstance(content, list) and any(
        isinstance(b, dict) and b.get("type") == "tool_result" for b in content
    )


def parse(group, ctx: Context, where: str, key: str | None) -> list[Trajectory]:
    messages = to_chat(group)
    if not messages:
        raise RecordError("no messages in this Cline history")
    chat = read_chat(messages, "api_conversation_history")
    return [chat_trajectory(chat, ctx, where, "api_conversation_history", RecordInfo(), ())]
