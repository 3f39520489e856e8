"""OpenAI chat messages: `tool_calls` + `role: tool`, legacy `function_call` + `role: function`,
typed content parts (OpenAI `{type: text, text}`, LLaMA-Factory `{type: text|reasoning|tool_call,
value}`), and ReAct text inside messages (FireAct). The chat reading here is shared: ShareGPT and
ToolBench records are read through it, so every chat-shaped source follows the same rules.

Records keep their messages under `messages`, `traj` (tau-bench, with `task_id`/`trial`/`reward`
beside it), `conversations` of role/content dicts, `answer_generation.train_messages`, a
`messages` one level down, or are a bare list of messages.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field

import orjson

from curator.importers.base import (
    Context,
    RecordError,
    RecordInfo,
    as_text,
    assistant_turn,
    bad,
    end_marker,
    expect,
    is_observation,
    join,
    make_trajectory,
    mark_end,
    normalize_tools,
    optional_text,
    parse_arguments,
    record_info,
    task_instruction,
    with_end,
)
from curator.importers.react import looks_like_react, observation_text, trace_turns
from curator.model import Task, ToolCall, Trajectory, Turn

NAME = "openai"

MESSAGE_KEYS = ("messages", "traj", "conversations", "conversation")
# Speaker names of OpenAI chat and ShareGPT (one table: both are read by the same reader).
ROLES = {
    "system": "system",
    "developer": "system",
    "user": "user",
    "human": "user",
    "assistant": "assistant",
    "gpt": "assistant",
    "chatgpt": "assistant",
    "model": "assistant",
    "tool": "tool",
    "function": "tool",
    "observation": "tool",
    "ipython": "tool",
    "function_call": "call",
    "tool_call": "call",
}
TEXT_PARTS = ("text", "input_text", "output_text", "refusal")
REASONING_PARTS = ("reasoning", "thinking")
MEDIA_PARTS = ("image_url", "image", "input_image", "audio", "input_audio", "file", "video")
NAME_IN_TEXT = re.compile(r'"name"\s*:\s*"([^"]*)"')


@dataclass
class Chat:
    """A conversation read into the model: the task's parts, the turns, and what the environment
    said after the final answer (if anything)."""

    system: str | None = None
    instruction: str | None = None
    turns: list[Turn] = field(default_factory=list)
    end: str | None = None


def is_messages(value) -> bool:
    return isinstance(value, list) and bool(value) and isinstance(value[0], dict) and "role" in value[0]


def sniff(value) -> bool:
    if is_messages(value):
        return True
    if not isinstance(value, dict):
        return False
    if any(is_messages(value.get(k)) for k in MESSAGE_KEYS):
        return True
    # One level down, in a record with fields of its own (an id -> record map has none, and
    # holds more than one chat).
    nested = [v for v in value.values() if isinstance(v, dict) and is_messages(v.get("messages"))]
    return len(nested) == 1 and any(not isinstance(v, dict) for v in value.values())


def locate(record) -> tuple[list, str, dict]:
    """The messages of a record, their field name, and the fields beside them (labels, ids)."""
    if isinstance(record, list):
        return record, "record", {}
    expect(record, dict, "record", "a JSON object")
    for key in MESSAGE_KEYS:
        if key in record:
            return expect(record[key], list, key, "a list of messages"), key, record
    generation = record.get("answer_generation")
    if isinstance(generation, dict) and "train_messages" in generation:
        messages, name = longest(generation["train_messages"], "answer_generation.train_messages")
        return messages, name, record
    for key, inner in record.items():
        if isinstance(inner, dict) and "messages" in inner:
            name = f"{key}.messages"
            return expect(inner["messages"], list, name, "a list of messages"), name, {**record, **inner}
    raise RecordError("no messages: expected a 'messages' list (or 'traj', 'conversations')")


def longest(conversations, name: str) -> tuple[list, str]:
    """ToolBench keeps one training conversation per step, each a prefix of the next: the longest
    is the whole run."""
    expect(conversations, list, name, "a list of conversations")
    if not conversations:
        raise bad(name, "empty: this answer holds no trajectory")
    for i, conversation in enumerate(conversations):
        expect(conversation, list, f"{name}[{i}]", "a list of messages")
    index = max(range(len(conversations)), key=lambda i: len(conversations[i]))
    return conversations[index], f"{name}[{index}]"


def call_from_object(value, name: str) -> ToolCall:
    """`{"name", "arguments"}` (legacy `function_call`, flat tool calls) as a call."""
    expect(value, dict, name, "an object with name and arguments")
    call_name = value.get("name")
    if call_name is None:
        raise bad(f"{name}.name", "missing")
    expect(call_name, str, f"{name}.name", "text")
    arguments = value.get("arguments", value.get("parameters"))
    call_id = value.get("id")
    return ToolCall(call_name, parse_arguments(arguments), call_id if isinstance(call_id, str) else None)


def calls_from_json(value, name: str) -> list[ToolCall]:
    """A call written as JSON text `{"name", "arguments"}`, or a list of such calls (LLaMA-Factory
    `tool_call` parts, ShareGPT `function_call` turns). Text that is not valid JSON is the
    teacher's mistake: kept whole as the arguments, with the name found in it, for the review."""
    if isinstance(value, str):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            found = NAME_IN_TEXT.search(value)
            return [ToolCall(found[1] if found else "", value)]
    if isinstance(value, list):
        return [call_from_object(item, f"{name}[{i}]") for i, item in enumerate(value)]
    return [call_from_object(value, name)]


def tool_calls(value, name: str) -> list[ToolCall]:
    """OpenAI `tool_calls`: `{id, type, function: {name, arguments}}` (flat calls also read)."""
    expect(value, list, name, "a list of tool calls")
    calls = []
    for i, call in enumerate(value):
        where = f"{name}[{i}]"
        expect(call, dict, where, "a tool call object")
        if "function" in call:
            function = call_from_object(call["function"], f"{where}.function")
            call_id = call.get("id")
            calls.append(
                dataclasses.replace(function, id=call_id if isinstance(call_id, str) else function.id)
            )
        else:
            calls.append(call_from_object(call, where))
    return calls


def read_content(value, name: str) -> tuple[str, str, list[ToolCall]]:
    """A message's content as (text, reasoning, calls): plain text, null, or typed parts."""
    if value is None:
        return "", "", []
    if isinstance(value, str):
        return value, "", []
    expect(value, list, name, "text or a list of content parts")
    texts, reasoning, calls = [], [], []
    for i, part in enumerate(value):
        where = f"{name}[{i}]"
        if isinstance(part, str):
            texts.append(part)
            continue
        expect(part, dict, where, "a content part object")
        part_type = part.get("type")
        if part_type in TEXT_PARTS:
            texts.append(part_text(part, ("text", "value", "refusal"), where))
        elif part_type in REASONING_PARTS:
            reasoning.append(part_text(part, ("value", "reasoning", "thinking", "text", "content"), where))
        elif part_type == "redacted_thinking":  # Anthropic: encrypted, kept as a mark
            reasoning.append("[redacted thinking]")
        elif part_type == "tool_use":  # Anthropic
            calls.append(anthropic_call(part, where))
        elif part_type == "tool_call":
            calls += calls_from_json(part.get("value", part.get("tool_call")), f"{where}.value")
        elif part_type in MEDIA_PARTS:
            texts.append(f"[{part_type}]")  # text-only review: mark where the media was
        else:
            raise bad(f"{where}.type", f"unknown content part type {part_type!r}")
    return "\n".join(texts), "\n".join(reasoning), calls


def anthropic_call(part: dict, name: str) -> ToolCall:
    """An Anthropic `tool_use` block: `{id, name, input}`."""
    call_id = part.get("id")
    return ToolCall(
        expect(part.get("name"), str, f"{name}.name", "the tool's name as text"),
        parse_arguments(part.get("input")),
        call_id if isinstance(call_id, str) else None,
    )


def part_text(part: dict, keys: tuple[str, ...], name: str) -> str:
    for key in keys:
        if key in part:
            return expect(part[key], str, f"{name}.{key}", "text") or ""
    raise bad(name, f"no {keys[0]!r} in the part")


class ChatReader:
    """Reads messages in order into a Chat, pairing tool results with the calls they answer.
    `role_key`/`content_key` are `role`/`content` (OpenAI) or `from`/`value` (ShareGPT)."""

    def __init__(self, name: str, role_key: str, content_key: str):
        self.name = name
        self.role_key = role_key
        self.content_key = content_key
        self.chat = Chat()
        self.system_parts: list[str] = []
        self.pending: list[ToolCall] = []  # calls of the last assistant turn still unanswered
        self.react = False  # the last assistant turn was ReAct text: observations come as users

    def read(self, messages: list) -> Chat:
        for i, message in enumerate(messages):
            where = f"{self.name}[{i}]"
            expect(message, dict, where, "a message object")
            role = message.get(self.role_key)
            if role is None:
                raise bad(f"{where}.{self.role_key}", "missing")
            if not isinstance(role, str) or role.lower() not in ROLES:
                raise bad(f"{where}.{self.role_key}", f"unknown role {role!r}")
            getattr(self, ROLES[role.lower()])(message, where)
        if self.chat.instruction is None and not self.chat.turns:
            raise bad(self.name, "no user or assistant message: no task and nothing done")
        self.chat.system = "\n\n".join(self.system_parts) or None
        return self.chat

    def content(self, message: dict, where: str) -> tuple[str, str, list[ToolCall]]:
        return read_content(message.get(self.content_key), f"{where}.{self.content_key}")

    def system(self, message: dict, where: str) -> None:
        text, _, _ = self.content(message, where)
        if self.chat.instruction is None and not self.chat.turns:
            self.system_parts.append(text)
        else:  # a system message mid-conversation is input the model saw at that point
            self.chat.turns.append(Turn("user", content=text, name="system"))

    def user(self, message: dict, where: str) -> None:
        """The task is the first user message before any step (`task_instruction`); after that a
        user message is an episode-end marker, an observation answering a ReAct call, or a later
        user turn."""
        content = message.get(self.content_key)
        if isinstance(content, list) and any(
            isinstance(p, dict) and p.get("type") == "tool_result" for p in content
        ):
            self.tool_results(content, f"{where}.{self.content_key}")
            return
        text, _, _ = self.content(message, where)
        if not self.chat.turns and not is_observation(text):
            self.chat.instruction = join(self.chat.instruction, text) if self.chat.instruction else text
            return
        if self.chat.turns and (end := end_marker(text)) is not None:
            self.closing(end)
            return
        observation = observation_text(text) if self.react else None
        if observation is not None and self.pending:
            call = self.pending.pop(0)
            self.chat.turns.append(
                Turn("tool", content=observation, name=call.name, tool_call_id=call.id, raw=text)
            )
        elif observation is not None and self.chat.turns[-1].content:
            self.closing(observation)  # the environment's words after the final answer
        else:
            self.chat.turns.append(Turn("user", content=text))

    def closing(self, end: str) -> None:
        self.chat.end = join(self.chat.end, end)
        mark_end(self.chat.turns, end)
        self.pending = []

    def assistant(self, message: dict, where: str) -> None:
        text, reasoning, calls = self.content(message, where)
        for key in ("reasoning_content", "reasoning", "thinking"):
            if isinstance(message.get(key), str) and message[key]:
                reasoning = "\n".join(p for p in (message[key], reasoning) if p)
        if message.get("tool_calls") is not None:
            calls += tool_calls(message["tool_calls"], f"{where}.tool_calls")
        if message.get("function_call") is not None:
            calls.append(call_from_object(message["function_call"], f"{where}.function_call"))
        if not calls and looks_like_react(text):
            example = trace_turns(text)
            turns = example.turns
            if reasoning and turns:
                turns[0] = dataclasses.replace(
                    turns[0], thought="\n\n".join(p for p in (reasoning, turns[0].thought) if p)
                )
            self.chat.turns += turns
            self.chat.end = join(self.chat.end, example.end) or None
            self.react = True
        else:
            self.chat.turns.append(assistant_turn(reasoning, text, calls))
            self.react = False
        last = self.chat.turns[-1]
        self.pending = list(last.tool_calls) if last.role == "assistant" else []

    def call(self, message: dict, where: str) -> None:
        """A turn that is only a call written as JSON (ShareGPT `function_call`)."""
        field_name = f"{where}.{self.content_key}"
        calls = calls_from_json(message.get(self.content_key), field_name)
        self.chat.turns.append(assistant_turn("", "", calls))
        self.pending = list(self.chat.turns[-1].tool_calls)
        self.react = False

    def tool(self, message: dict, where: str) -> None:
        content = message.get(self.content_key)
        if isinstance(content, list) and all(isinstance(p, dict) and "type" in p for p in content):
            content, _, _ = self.content(message, where)  # text parts
        call_id = optional_text(message.get("tool_call_id"), f"{where}.tool_call_id")
        name = optional_text(message.get("name"), f"{where}.name")
        self.result(call_id, name, as_text(content))

    def tool_results(self, parts: list, name: str) -> None:
        """Anthropic: results come back in a user message, one `tool_result` block per call (text
        beside them is the user speaking)."""
        rest = []
        for i, part in enumerate(parts):
            if not (isinstance(part, dict) and part.get("type") == "tool_result"):
                rest.append(part)
                continue
            where = f"{name}[{i}]"
            call_id = optional_text(part.get("tool_use_id"), f"{where}.tool_use_id")
            text, _, _ = read_content(part.get("content"), f"{where}.content")
            self.result(call_id, None, text, {"is_error": True} if part.get("is_error") else {})
        if rest:
            text, _, _ = read_content(rest, name)
            self.chat.turns.append(Turn("user", content=text))

    def result(self, call_id: str | None, name: str | None, content: str, meta: dict | None = None) -> None:
        """A tool result, paired with the call it answers by id (else the oldest unanswered)."""
        call = self.answered_call(call_id)
        if call is not None:
            call_id, name = call_id or call.id, name or call.name
        self.chat.turns.append(
            Turn("tool", content=content, tool_call_id=call_id, name=name, meta=meta or {})
        )

    def answered_call(self, call_id: str | None) -> ToolCall | None:
        for i, call in enumerate(self.pending):
            if call_id is None or call.id == call_id:
                return self.pending.pop(i)
        return None


def read_chat(messages: list, name: str, role_key: str = "role", content_key: str = "content") -> Chat:
    return ChatReader(name, role_key, content_key).read(messages)


def chat_trajectory(
    chat: Chat,
    ctx: Context,
    where: str,
    name: str,
    info: RecordInfo,
    tools: tuple[dict, ...],
    system: str | None = None,
    record: dict | None = None,
) -> Trajectory:
    """The trajectory of a read chat; `system` is the record's own system field, used when the
    messages hold none; `record` the fields beside the messages (a task field)."""
    info = with_end(info, chat.end)
    task = Task(
        instruction=task_instruction(chat.instruction, record, info),
        system=chat.system or system,
        tools=tools,
        source_task_id=info.task_id,
    )
    return make_trajectory(ctx, where, task, chat.turns, info, name)


def parse(value, ctx: Context, where: str, key: str | None) -> list[Trajectory]:
    messages, name, record = locate(value)
    chat = read_chat(messages, name)
    tools_key = "tools" if record.get("tools") is not None else "functions"
    tools = normalize_tools(record.get(tools_key), tools_key)
    system = optional_text(record.get("system"), "system")
    return [chat_trajectory(chat, ctx, where, name, record_info(record, key), tools, system, record)]
