"""The rules of an edit: change one step's fields, insert or delete steps, refuse an empty step.

Pure functions over turns, so the same rules hold for the app's edit panel and for tests. A field
that does not make sense (arguments that are not JSON, a tool the task does not offer, arguments
that do not fit the tool's schema) raises `EditError` with a message the app shows beside the
field; nothing is saved until `review.edit` writes the whole working copy as a new revision.
"""

from __future__ import annotations

import json
from dataclasses import replace

from curator.checks import schema_problems
from curator.errors import CuratorError
from curator.model import Task, ToolCall, Turn
from curator.steps import Block, blocks, flatten


class EditError(CuratorError):
    """A field of the edit is not valid; one line saying which and why."""


def parse_arguments(task: Task, tool_name: str, arguments: str) -> dict:
    """Arguments text -> JSON object that fits the tool's schema (or EditError saying why)."""
    try:
        value = json.loads(arguments or "{}")
    except json.JSONDecodeError as exc:
        raise EditError(
            f"arguments: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    specs = {t.get("function", t).get("name"): t.get("function", t) for t in task.tools}
    if specs and tool_name not in specs:
        raise EditError(
            f"tool {tool_name!r} is not offered by this task (tools: {', '.join(sorted(map(str, specs)))})"
        )
    problems = schema_problems(value, (specs.get(tool_name) or {}).get("parameters"))
    if problems:
        raise EditError(f"arguments do not fit {tool_name}'s schema: {'; '.join(problems)}")
    return value


def apply_step(
    task: Task, turns, step: int, call: int, *, thought: str, tool_name: str, arguments: str, reply: str
) -> list[Turn]:
    """The turns with step `step` changed as the fields say.

    An empty tool name removes that call (the step becomes a reply or the final answer); a name
    on a step without calls adds one.
    """
    bs = blocks(turns)
    index = step_index(bs, step)
    turn = bs[index].turn
    calls = list(turn.tool_calls)
    tool_name = (tool_name or "").strip()
    if tool_name:
        new = ToolCall(
            tool_name,
            parse_arguments(task, tool_name, arguments),
            calls[call].id if call < len(calls) else f"call_edit_{step}_{call}",
        )
        calls[call : call + 1] = [new]
    elif call < len(calls):
        if (arguments or "").strip() not in ("", "{}"):
            raise EditError(
                "tool name: empty, but the arguments are not: name the tool, or clear both to remove the call"
            )
        del calls[call]
    if not tool_name and not calls and not (reply or "").strip():
        raise EditError(f"step {step + 1}: needs a tool call or a reply")
    bs[index] = replace(
        bs[index],
        turn=replace(turn, thought=thought or "", content=reply or "", tool_calls=tuple(calls), raw=None),
    )
    return flatten(bs)


def insert_step(turns, after: int) -> tuple[list[Turn], int]:
    """A new, empty-reply step after step `after` (with its results); returns it selected."""
    bs = blocks(turns)
    index = step_index(bs, after) + 1
    bs.insert(index, Block(after + 1, Turn("assistant", content="")))
    return flatten(bs), after + 1


def delete_step(turns, step: int) -> list[Turn]:
    """The turns without step `step` and the results that answered it."""
    bs = blocks(turns)
    if sum(1 for b in bs if b.step is not None) <= 1:
        raise EditError("cannot delete the only step; fail the trajectory instead")
    del bs[step_index(bs, step)]
    return flatten(bs)


def step_index(bs: list[Block], step: int) -> int:
    """Where step `step` is among the blocks (EditError if there is no such step)."""
    for i, b in enumerate(bs):
        if b.step == step:
            return i
    raise EditError(f"no step {step + 1} (the trajectory has {sum(1 for b in bs if b.step is not None)})")


def check_complete(turns) -> None:
    """Refuse to save a step that says and does nothing (an inserted step left empty)."""
    for b in blocks(turns):
        if b.step is not None and not (b.turn.tool_calls or b.turn.content.strip() or b.turn.thought.strip()):
            raise EditError(f"step {b.step + 1} is empty: give it a tool call or a reply, or delete it")
