"""ToolBench answer files (`data/answer/G*_answer/*.json`): `answer_generation` holds the run
(`train_messages`: OpenAI chat with legacy `function_call` / `role: function`, one conversation per
step, each a prefix of the next; `function`: the tool specs; `query`; `finish_type`) and `win`
says whether it solved the query. Many fields are written as Python `str()` of the value
("True", "[{'name': ...}]"), so they are read as JSON or as Python literals.

The chat is read by the OpenAI chat reader; the `Finish` call with `return_type: give_answer` is
the final answer there (one rule for every source that uses it).
"""

from __future__ import annotations

from curator.importers.base import (
    Context,
    RecordError,
    expect,
    kind,
    normalize_tools,
    read_label,
    record_info,
)
from curator.importers.openai_chat import chat_trajectory, longest, read_chat
from curator.model import Trajectory

NAME = "toolbench"


def sniff(value) -> bool:
    return isinstance(value, dict) and isinstance(value.get("answer_generation"), dict)


def parse(value, ctx: Context, where: str, key: str | None) -> list[Trajectory]:
    if not isinstance(value, dict):
        raise RecordError(f"expected a ToolBench answer object, got {kind(value)}")
    generation = expect(value.get("answer_generation"), dict, "answer_generation", "an object")
    messages, name = longest(generation.get("train_messages"), "answer_generation.train_messages")
    chat = read_chat(messages, name)
    tools = normalize_tools(generation.get("function"), "answer_generation.function")
    info = record_info(value, key)
    if value.get("win") is not None:
        read_label(info, value["win"], "win")
    if isinstance(generation.get("finish_type"), str):
        info.meta["finish_type"] = generation["finish_type"]
    return [chat_trajectory(chat, ctx, where, name, info, tools, record=generation)]
