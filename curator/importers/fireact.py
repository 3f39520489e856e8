"""FireAct run records whose `traj` is one string: the prompt the model was given and then the
ReAct trace of its run (`Thought: / Action: search[...] / Observation: ...`), with the run's
`reward`, `em`, `f1`, `gt` and `pred` beside it, in an id -> record object (FireAct's and SPIN's
`trajs/*.json`).

FireAct writes an alpaca prompt: a preamble (`Below is an instruction that describes a task...`:
the system prompt), `### Instruction:` (the task), `### Input:` (its context), `### Response:`
(the trace). Without those sections the run is the text from the last task line (`Question:`,
`Claim:`, ...) on, and what comes before it (instructions, few-shot examples) is the system
prompt. The section markers are scaffolding, not words of either side. The trace is read by the
ReAct reader (`react.py`), so end markers and labels follow the shared rules.
"""

from __future__ import annotations

import re

from curator.importers.base import Context, RecordError, kind, make_trajectory, record_info, with_end
from curator.importers.react import read_trace
from curator.model import Task, Trajectory

NAME = "fireact"

OUTCOME_KEYS = ("reward", "em", "f1", "correct", "is_correct")
META_KEYS = ("em", "f1", "gt", "pred")
TASK_LINE = re.compile(r"^[ \t]*(?:question|claim|task)(?:[ \t]+\d+)?[ \t]*:", re.IGNORECASE | re.MULTILINE)
ALPACA = re.compile(
    r"^[ \t]*###[ \t]*(?P<name>instruction|input|response)[ \t]*:?[ \t]*$", re.IGNORECASE | re.MULTILINE
)


def sniff(value) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("traj"), str)
        and any(k in value for k in OUTCOME_KEYS)
    )


def alpaca_parts(text: str) -> tuple[str, dict[str, str]]:
    """The preamble and the `### Instruction/Input/Response` sections (none when unmarked)."""
    marks = list(ALPACA.finditer(text))
    if not marks:
        return text, {}
    ends = [m.start() for m in marks[1:]] + [len(text)]
    sections = {m["name"].lower(): text[m.end() : end].strip() for m, end in zip(marks, ends, strict=True)}
    return text[: marks[0].start()].strip(), sections


def run_parts(text: str) -> tuple[str, str | None, str | None, str]:
    """(system prompt, instruction, context, the trace)."""
    preamble, sections = alpaca_parts(text)
    if "response" in sections:
        return preamble, sections.get("instruction"), sections.get("input") or None, sections["response"]
    starts = [m.start() for m in TASK_LINE.finditer(text)]
    if not starts:
        return "", None, None, text
    return text[: starts[-1]].strip(), None, None, text[starts[-1] :]


def parse(value, ctx: Context, where: str, key: str | None) -> list[Trajectory]:
    if not isinstance(value, dict):
        raise RecordError(f"expected a FireAct run object, got {kind(value)}")
    system, instruction, context, trace = run_parts(value["traj"])
    _, examples = read_trace(trace)
    examples = [e for e in examples if any(t.role == "assistant" for t in e.turns)]
    if not examples:
        raise RecordError("field 'traj': no ReAct steps (Thought:/Action:) in the run")
    example = examples[0]
    info = record_info(value, key)
    if info.label is None and isinstance(value.get("em"), (int, float, bool)):
        info.label = "success" if value["em"] else "failure"
    for name in META_KEYS:
        if value.get(name) is not None:
            info.meta[name] = value[name]
    info = with_end(info, example.end)
    task = Task(
        instruction=instruction if instruction is not None else example.instruction or "",
        context=context,
        system=system or None,
        source_task_id=info.task_id,
    )
    return [make_trajectory(ctx, where, task, example.turns, info, "traj")]
