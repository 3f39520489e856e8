"""What every importer family shares: the error a bad record raises, the per-file context, and the
rules every family applies the same way (one place for each): JSON-ish field values, tool specs,
tool-call arguments, the source's own labels, and the checks that make a record a trajectory."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import orjson

from curator.model import Source, Task, ToolCall, Trajectory, Turn, label_from_reward


class RecordError(ValueError):
    """This record cannot be read as a trajectory. The message is one line naming the field."""


@dataclass(frozen=True)
class Context:
    path: str
    format: str
    teacher: str | None = None  # from --teacher; used where the record names none

    def source(self, where: str) -> Source:
        return Source(format=self.format, file=self.path, record=where)


def bad(field_name: str, problem: str) -> RecordError:
    return RecordError(f"field '{field_name}': {problem}")


def kind(value: Any) -> str:
    """How a JSON value is named in error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def expect(value: Any, types: type | tuple, field_name: str, what: str) -> Any:
    """The value when it has the type; else the one-line error naming the field (a JSON boolean
    is not a number, though Python says it is an int)."""
    if not isinstance(value, types) or (types is not bool and isinstance(value, bool)):
        raise bad(field_name, f"expected {what}, got {kind(value)}")
    return value


def optional_text(value: Any, field_name: str) -> str | None:
    return None if value is None else expect(value, str, field_name, "text")


def as_text(value: Any) -> str:
    """Tool results and the like as text: strings unchanged, anything else as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def join(*parts: str | None) -> str:
    return "\n\n".join(p for p in parts if p)


def load_embedded(value: Any, field_name: str) -> Any:
    """A structure some formats store as a string: JSON (LLaMA-Factory `tools`) or a Python literal
    (ToolBench writes `str(list_of_dicts)`). Anything else is returned as it is."""
    if not isinstance(value, str):
        return value
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        pass
    try:
        return ast.literal_eval(value.strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise bad(field_name, "text that is neither JSON nor a Python literal") from None


def normalize_tools(value: Any, field_name: str) -> tuple[dict, ...]:
    """Tool schemas as OpenAI function specs `{"type": "function", "function": {...}}`, from a
    list or a string holding one; bare `{"name", "parameters"}` specs (legacy `functions`,
    glaive, ToolBench) are wrapped. Every record of a file usually offers the same tools: they
    are checked once, and the records share the result (a fifth of an import's time before)."""
    if value is None or value == "":
        return ()
    return _normalized_tools(value if isinstance(value, str) else orjson.dumps(value), field_name)


@lru_cache(maxsize=256)
def _normalized_tools(text: str | bytes, field_name: str) -> tuple[dict, ...]:
    specs = load_embedded(text if isinstance(text, str) else orjson.loads(text), field_name)
    if isinstance(specs, dict):
        specs = [specs]
    expect(specs, list, field_name, "a list of function specs")
    tools = []
    for i, spec in enumerate(specs):
        where = f"{field_name}[{i}]"
        expect(spec, dict, where, "a function spec object")
        function = spec.get("function") if spec.get("type") == "function" else spec
        expect(function, dict, f"{where}.function", "a function spec object")
        expect(function.get("name"), str, f"{where}.name", "the tool's name as text")
        tools.append({"type": "function", "function": function})
    return tuple(tools)


def parse_arguments(value: Any) -> Any:
    """Tool-call arguments: a JSON object stays an object; a JSON string is parsed; anything the
    teacher wrote that is not a JSON object is kept as the raw string, for the review to see."""
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            parsed = orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
        return parsed if isinstance(parsed, dict) else value
    return value


def finish_answer(call: ToolCall) -> str | None:
    """ToolBench's convention: `Finish` with `return_type: give_answer` is the final answer, not a
    tool call. Giving up (`give_up_and_restart`) stays a call: there is no answer to show."""
    args = call.arguments
    if call.name.lower() != "finish" or not isinstance(args, dict):
        return None
    if args.get("return_type") != "give_answer":
        return None
    return as_text(args.get("final_answer"))


def assistant_turn(thought: str, text: str, calls: list[ToolCall], raw: str | None = None) -> Turn:
    """The OpenAI rule for one assistant message: text beside tool calls is the thought, text
    without calls is the reply."""
    if len(calls) == 1 and (answer := finish_answer(calls[0])) is not None:
        return Turn("assistant", thought=join(thought, text), content=answer, raw=raw)
    if calls:
        return Turn("assistant", thought=join(thought, text), tool_calls=tuple(calls), raw=raw)
    return Turn("assistant", thought=thought, content=text, raw=raw)


SUCCESS_WORDS = {
    "success",
    "succeeded",
    "successful",
    "pass",
    "passed",
    "correct",
    "good",
    "win",
    "resolved",
    "true",
    "positive",
}
FAILURE_WORDS = {
    "failure",
    "failed",
    "fail",
    "incorrect",
    "wrong",
    "bad",
    "loss",
    "unresolved",
    "false",
    "negative",
}
TASK_ID_KEYS = ("task_id", "instance_id", "id", "query_id")
TEACHER_KEYS = ("teacher", "model", "model_name", "generator")
META_KEYS = ("failure", "trial")


@dataclass
class RecordInfo:
    """What a record says about itself beside its turns: which task, which teacher, how it went."""

    task_id: str | None = None
    teacher: str | None = None
    label: str | None = None
    reward: float | None = None
    meta: dict = field(default_factory=dict)


def label_word(value: Any, field_name: str) -> str | None:
    """A source label as success/failure, or None when the word is not one we know."""
    if isinstance(value, bool):
        return "success" if value else "failure"
    word = expect(value, str, field_name, "a label (text or true/false)").strip().lower()
    if word in SUCCESS_WORDS:
        return "success"
    if word in FAILURE_WORDS:
        return "failure"
    return None


def read_label(info: RecordInfo, value: Any, field_name: str) -> None:
    """Set the label from a source's label field; a word we do not know is kept in meta."""
    info.label = label_word(value, field_name)
    if info.label is None:
        info.meta[field_name] = value


def number(value: Any, field_name: str) -> float:
    """A reward: a number, a boolean, or a number written as text (ToolBench writes strings)."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise bad(field_name, f"expected a number, got {kind(value)}")


def record_info(record: dict, key: str | None) -> RecordInfo:
    """The source's own task name, teacher and label, read from the usual fields. Labels are never
    guessed: an unknown label word is kept in meta and the label stays unknown."""
    info = RecordInfo()
    for name in TASK_ID_KEYS:
        value = record.get(name)
        if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value) != "":
            info.task_id = str(value)
            break
    else:
        info.task_id = key
    for name in TEACHER_KEYS:
        if isinstance(record.get(name), str) and record[name]:
            info.teacher = record[name]
            break
    if record.get("reward") is not None:
        info.reward = number(record["reward"], "reward")
    for name in ("label", "success", "resolved"):
        if record.get(name) is not None:
            read_label(info, record[name], name)
            break
    if info.label is None and info.reward is not None:
        info.label = label_from_reward(info.reward)
    for name in META_KEYS:
        if record.get(name) is not None:
            info.meta[name] = record[name]
    return info


def make_trajectory(
    ctx: Context, where: str, task: Task, turns: list[Turn], info: RecordInfo, field_name: str
) -> Trajectory:
    """A trajectory, once the record has shown it holds one: at least one assistant turn."""
    if not any(t.role == "assistant" for t in turns):
        raise bad(field_name, "no assistant turn: nothing the teacher did to review")
    return Trajectory(
        task=task,
        turns=tuple(turns),
        source=ctx.source(where),
        teacher=info.teacher or ctx.teacher,
        source_label=info.label,
        source_reward=info.reward,
        meta=info.meta,
    )
