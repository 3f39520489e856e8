"""FireAct run records whose `traj` is one string: the prompt the model was given (an alpaca-style
instruction, possibly few-shot examples) and then the ReAct trace of the run (`Question: ...`,
`Thought: / Action: search[...] / Observation: ...`), with the run's `reward` (and `em`, `f1`)
beside it, often in an id -> record object.

The run is the text from the last task line (`Question:`, `Claim:`, ...) on; everything before it
is the prompt the model saw: the system prompt. Alpaca section markers (`### Instruction:`,
`### Input:`, `### Response:`) are scaffolding, not words of either side, and are left out. The
trace is read by the ReAct reader (`react.py`), so end markers and labels follow the shared rules.
"""

from __future__ import annotations

import re

from curator.importers.base import Context, RecordError, kind, make_trajectory, record_info, with_end
from curator.importers.react import read_trace
from curator.model import Task, Trajectory

NAME = "fireact"

OUTCOME_KEYS = ("reward", "em", "f1", "correct", "is_correct")
TASK_LINE = re.compile(r"^[ \t]*(?:question|claim|task)(?:[ \t]+\d+)?[ \t]*:", re.IGNORECASE | re.MULTILINE)
ALPACA_MARKER = re.compile(
    r"^[ \t]*###[ \t]*(?:instruction|input|response)[ \t]*:?[ \t]*$", re.IGNORECASE | re.MULTILINE
)


def sniff(value) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("traj"), str)
        and any(k in value for k in OUTCOME_KEYS)
    )


def split_prompt(text: str) -> tuple[str, str]:
    """(the prompt before the run's task line, the run)."""
    text = ALPACA_MARKER.sub("", text)
    starts = [m.start() for m in TASK_LINE.finditer(text)]
    if not starts:
        return "", text
    return text[: starts[-1]].strip(), text[starts[-1] :]


def parse(value, ctx: Context, where: str, key: str | None) -> list[Trajectory]:
    if not isinstance(value, dict):
        raise RecordError(f"expected a FireAct run object, got {kind(value)}")
    prompt, run = split_prompt(value["traj"])
    _, examples = read_trace(run)
    examples = [e for e in examples if any(t.role == "assistant" for t in e.turns)]
    if not examples:
        raise RecordError("field 'traj': no ReAct steps (Thought:/Action:) after the question")
    example = examples[0]
    info = record_info(value, key)
    if info.label is None and isinstance(value.get("em"), (int, float, bool)):
        info.label = "success" if value["em"] else "failure"
    for name in ("em", "f1"):
        if value.get(name) is not None:
            info.meta[name] = value[name]
    info = with_end(info, example.end)
    task = Task(
        instruction=example.instruction or "",
        system=prompt or None,
        source_task_id=info.task_id,
    )
    return [make_trajectory(ctx, where, task, example.turns, info, "traj")]
