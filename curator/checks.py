"""Automatic checks (SPEC 4): cheap heuristics run at import and after every edit.

They are suggestions shown on the step they concern, never decisions. A "step" is the index of an
assistant turn among the trajectory's assistant turns (0-based), the same index a reviewer picks as
the first faulty step.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from curator.model import Task, Turn

TOKEN_BUDGET = 4096  # rough tokens (characters / 4) a trajectory may take in training
CHARS_PER_TOKEN = 4
ERROR_RESULT = re.compile(r'^\s*(\{\s*"error"\s*:\s*"[^"]|error\b|traceback|exception\b)', re.IGNORECASE)
ACKNOWLEDGES = re.compile(
    r"error|fail|unable|cannot|can't|couldn't|not (found|available|exist)|invalid|retry|"
    r"instead|sorry|unfortunately|again|wrong|problem|issue",
    re.IGNORECASE,
)
JSON_TYPES = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
    "null": (type(None),),
}


@dataclass(frozen=True)
class Flag:
    check: str  # unknown_tool | bad_arguments | repeated_action | ignored_error | no_final | over_budget
    step: int | None
    message: str


def schema_problems(arguments, parameters: dict | None) -> list[str]:
    """Why `arguments` do not fit a JSON schema (the subset OpenAI function specs use)."""
    if not isinstance(arguments, dict):
        return [f"arguments are not a JSON object: {str(arguments)[:80]!r}"]
    if not parameters:
        return []
    problems = []
    props = parameters.get("properties") or {}
    for name in parameters.get("required") or ():
        if name not in arguments:
            problems.append(f"missing required argument {name!r}")
    for name, value in arguments.items():
        spec = props.get(name)
        if spec is None:
            if props:
                problems.append(f"unknown argument {name!r}")
            continue
        problems.extend(f"argument {name!r}: {p}" for p in _value_problems(value, spec))
    return problems


def _value_problems(value, spec: dict) -> list[str]:
    kind = spec.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if kind else []
    if kinds and not any(_is_type(value, k) for k in kinds):
        return [f"expected {'/'.join(kinds)}, got {type(value).__name__}"]
    if "enum" in spec and value not in spec["enum"]:
        return [f"{value!r} is not one of {spec['enum']}"]
    return []


def _is_type(value, kind: str) -> bool:
    if kind in ("integer", "number") and isinstance(value, bool):
        return False
    return isinstance(value, JSON_TYPES.get(kind, (object,)))


def run_checks(
    task: Task, turns: tuple[Turn, ...] | list[Turn], token_budget: int = TOKEN_BUDGET
) -> list[Flag]:
    specs = {t.get("function", t).get("name"): t.get("function", t) for t in task.tools}
    flags: list[Flag] = []
    step = -1
    previous_call = None
    error_pending: tuple[int, str] | None = None
    for turn in turns:
        if turn.role == "tool":
            if ERROR_RESULT.search(turn.content or ""):
                error_pending = (step, (turn.content or "")[:80])
            continue
        if turn.role != "assistant":
            continue
        step += 1
        if error_pending is not None:
            if not ACKNOWLEDGES.search(f"{turn.thought}\n{turn.content}"):
                flags.append(
                    Flag(
                        "ignored_error",
                        step,
                        f"the result before this step was an error "
                        f"({error_pending[1]!r}) and this step does not mention it",
                    )
                )
            error_pending = None
        for call in turn.tool_calls:
            if specs and call.name not in specs:
                flags.append(Flag("unknown_tool", step, f"tool {call.name!r} is not offered"))
            elif call.name in specs:
                for problem in schema_problems(call.arguments, specs[call.name].get("parameters")):
                    flags.append(Flag("bad_arguments", step, f"{call.name}: {problem}"))
            signature = (call.name, repr(call.arguments))
            if signature == previous_call:
                flags.append(Flag("repeated_action", step, f"same call as the step before: {call.name}"))
            previous_call = signature
    last = next((t for t in reversed(turns) if t.role != "user"), None)
    if last is None or last.role != "assistant" or last.tool_calls or not last.content.strip():
        flags.append(Flag("no_final", None, "the trajectory ends without a final answer"))
    tokens = _rough_tokens(task, turns)
    if tokens > token_budget:
        flags.append(Flag("over_budget", None, f"about {tokens} tokens, over the budget of {token_budget}"))
    return flags


def _rough_tokens(task: Task, turns) -> int:
    chars = len(task.instruction) + len(task.system or "") + len(task.context or "")
    for t in turns:
        chars += len(t.content) + len(t.thought)
        chars += sum(len(c.name) + len(str(c.arguments)) for c in t.tool_calls)
    return chars // CHARS_PER_TOKEN
