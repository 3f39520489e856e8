"""Alpaca-style records: `instruction`/`input`/`output` (Stanford Alpaca, LLaMA-Factory, FireAct's
alpaca format) and the seed article's `instruction`/`context`/`response`. An output written as a
ReAct trace (`THOUGHT:/ACTION:/RESULT:/FINISHED:` or `Thought:/Action: x[..]/Observation:`) is read
into turns; any other output is a one-turn trajectory whose reply is the final answer. LLaMA-Factory's
`history` (earlier [instruction, response] rounds) comes first, as earlier turns.
"""

from __future__ import annotations

from curator.importers.base import (
    Context,
    RecordError,
    expect,
    join,
    kind,
    make_trajectory,
    optional_text,
    record_info,
    with_end,
)
from curator.importers.react import looks_like_react, trace_turns
from curator.model import Task, Trajectory, Turn

NAME = "alpaca"

OUTPUT_KEYS = ("output", "response")
CONTEXT_KEYS = ("input", "context")


def sniff(value) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("instruction"), str)
        and any(k in value for k in OUTPUT_KEYS)
    )


def history_turns(value) -> list[tuple[str, str]]:
    expect(value, list, "history", "a list of [instruction, response] pairs")
    rounds = []
    for i, pair in enumerate(value):
        where = f"history[{i}]"
        if not (isinstance(pair, list) and len(pair) == 2):
            raise RecordError(f"field '{where}': expected an [instruction, response] pair, got {kind(pair)}")
        rounds.append(
            (expect(pair[0], str, f"{where}[0]", "text"), expect(pair[1], str, f"{where}[1]", "text"))
        )
    return rounds


def parse(value, ctx: Context, where: str, key: str | None) -> list[Trajectory]:
    if not isinstance(value, dict):
        raise RecordError(f"expected a JSON object record, got {kind(value)}")
    instruction = expect(value.get("instruction"), str, "instruction", "text")
    output_key = next((k for k in OUTPUT_KEYS if k in value), "output")
    output = expect(value.get(output_key), str, output_key, "text")
    context_key = next((k for k in CONTEXT_KEYS if k in value), "input")
    context = optional_text(value.get(context_key), context_key) or None
    rounds = history_turns(value["history"]) if value.get("history") else []

    turns: list[Turn] = []
    for i, (asked, answered) in enumerate(rounds):
        if i:
            turns.append(Turn("user", content=asked))
        turns.append(Turn("assistant", content=answered))
    if rounds:  # the current instruction is a later user turn; its input goes with it
        turns.append(Turn("user", content=join(instruction, context)))
        instruction, context = rounds[0][0], None

    info = record_info(value, key)
    if looks_like_react(output):
        example = trace_turns(output)
        turns += example.turns
        info = with_end(info, example.end)
    else:
        turns.append(Turn("assistant", content=output))
    task = Task(
        instruction=instruction,
        context=context,
        system=optional_text(value.get("system"), "system") or None,
        source_task_id=info.task_id,
    )
    return [make_trajectory(ctx, where, task, turns, info, output_key)]
