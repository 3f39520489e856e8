"""What every importer family shares: the error a bad record raises, the per-file context, and the
rules every family applies the same way (one place for each): JSON-ish field values, tool specs,
tool-call arguments, the source's own labels, and the checks that make a record a trajectory."""

from __future__ import annotations

import ast
import dataclasses
import re
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
LABEL_KEYS = ("label", "success", "resolved", "is_correct", "correct", "win", "acc")
REWARD_KEYS = ("reward",)
# Where a record keeps its outcome one level down: NAT `info`, tau2 `reward_info`.
OUTCOME_KEYS = ("info", "reward_info", "result", "outcome")
TERMINATION_KEYS = ("termination_reason", "exit_status", "stop_reason", "finish_reason")
# Termination reasons that say the run was cut off before an answer: a failure by the source's
# own account. Any other reason (the agent stopped, the user stopped) says nothing either way.
CUT_OFF = re.compile(
    r"max[_ ]?(steps|turns|iterations)|too[_ ]many|timeout|time[_ ]?limit|error|exit_cost|exit_context|halted",
    re.IGNORECASE,
)
OUTCOME_FIELDS = frozenset((*REWARD_KEYS, *LABEL_KEYS, *OUTCOME_KEYS, *TERMINATION_KEYS))
TASK_TEXT_KEYS = ("question", "query", "instruction", "task", "goal", "problem", "prompt")
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
    if isinstance(value, (int, float)):  # `acc: 0`, `is_correct: 1`
        return label_from_reward(value)
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
    read_outcome(info, record)
    for name in META_KEYS:
        if record.get(name) is not None:
            info.meta[name] = record[name]
    return info


def read_outcome(info: RecordInfo, record: dict, prefix: str = "") -> None:
    """The source's own outcome, from every field a family uses for it: a reward (`reward`,
    `info.reward`, `reward_info.reward`), a label (`label`, `success`, `resolved`, `is_correct`,
    `win`, ...), a termination reason. The record's own fields win over nested ones; a label field
    wins over a reward; a cut-off termination is a failure only where nothing else says."""
    if record.keys().isdisjoint(OUTCOME_FIELDS):  # most records: nothing to read (import's hot path)
        return
    for name in REWARD_KEYS:
        if info.reward is None and record.get(name) is not None and not isinstance(record[name], dict):
            info.reward = number(record[name], prefix + name)
    for name in LABEL_KEYS:
        if info.label is None and record.get(name) is not None and not isinstance(record[name], dict):
            read_label(info, record[name], prefix + name)
    for name in OUTCOME_KEYS:
        if isinstance(record.get(name), dict):
            read_outcome(info, record[name], f"{prefix}{name}.")
    if info.label is None and info.reward is not None:
        info.label = label_from_reward(info.reward)
    for name in TERMINATION_KEYS:
        reason = record.get(name)
        if isinstance(reason, str) and reason:
            info.meta.setdefault(prefix + name, reason)
            if info.label is None and not prefix and CUT_OFF.search(reason):
                info.label = "failure"


# --- the one rule for where a conversation's task is, and how an episode ends ------------------

END_MARKER = re.compile(
    r"\A\s*(?:observation(?:[ \t]+\d+)?[ \t]*:\s*)?"
    r"(?P<end>(?:episode[ \t]+(?:finished|done|ended|over)|answer[ \t]+is[ \t]+(?:in)?correct)\b.*)\Z",
    re.IGNORECASE | re.DOTALL,
)
END_REWARD = re.compile(r"\breward\s*[=:]\s*(true|false|-?\d+(?:\.\d+)?)", re.IGNORECASE)
END_VERDICT = re.compile(r"\banswer\s+is\s+(in)?correct\b", re.IGNORECASE)
OBSERVATION = re.compile(r"\A\s*observation(?:[ \t]+\d+)?[ \t]*:", re.IGNORECASE)


def end_marker(text: str) -> str | None:
    """The environment's episode-end words (`Observation: Episode finished, reward = 1`,
    Reflexion's `Answer is CORRECT`) without the label, or None. They are never a final answer
    nor a tool result: a trained model must not learn to say them."""
    match = END_MARKER.match(text)
    return match["end"].strip() if match else None


def is_observation(text: str) -> bool:
    """A user message that is the environment speaking (`Observation: ...`), not a person."""
    return OBSERVATION.match(text) is not None


def with_end(info: RecordInfo, end: str | None) -> RecordInfo:
    """Keep the environment's closing words in meta; where they state the outcome (FireAct's
    `reward = True`, Reflexion's `Answer is INCORRECT`) and the record has no label of its own,
    that is the source's label."""
    if end is None:
        return info
    info.meta["end_observation"] = end
    if info.label is not None:
        return info
    if match := END_REWARD.search(end):
        word = match[1].lower()
        info.reward = 1.0 if word == "true" else 0.0 if word == "false" else float(word)
        info.label = label_from_reward(info.reward)
    elif match := END_VERDICT.search(end):
        info.label = "failure" if match[1] else "success"
    return info


def mark_end(turns: list[Turn], end: str) -> None:
    """Keep an episode-end marker in the metadata of the step it closes (the last assistant turn)."""
    for i in range(len(turns) - 1, -1, -1):
        if turns[i].role == "assistant":
            previous = turns[i].meta.get("end")
            turns[i] = dataclasses.replace(turns[i], meta={**turns[i].meta, "end": join(previous, end)})
            return


def task_instruction(found: str | None, record: dict | None, info: RecordInfo) -> str:
    """Where every family's task comes from, one rule: the first user message before the first
    assistant message (`found`; the reader never takes a later message, an observation, for it).
    A conversation that starts with the assistant has no task message: the record's own task
    field (`question`, `instruction`, ...) is the task, else the task text is empty and meta says
    so. Every message of the source stays a turn, in order."""
    if found is not None:
        return found
    for name in TASK_TEXT_KEYS:
        value = (record or {}).get(name)
        if isinstance(value, str) and value.strip():
            return value
    info.meta["task"] = "the source record holds no task message"
    return ""


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
