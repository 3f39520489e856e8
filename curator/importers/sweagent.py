"""SWE-agent `.traj` files: one JSON object with `trajectory` (a list of `{thought, action,
observation, response, state}` steps), `history` (the messages the model saw) and `info`
(`exit_status`, `submission`, `model_stats`), plus `replay_config` in SWE-agent 1.x.

The task is the system prompt and the first user message of `history` (demonstrations skipped).
Each step is an assistant turn (its thought, and its action as a tool call) and a tool turn (the
observation). The call is the one the model made: where `history` holds function-calling
`tool_calls` for the action (SWE-agent 1.x) those are used as they are; otherwise the action is a
command line, read as a call named after its first word with the whole line as
`{"command": action}` (the command's own argument syntax differs per tool, so the line is kept
whole rather than split into guessed parameters). `submit` ends the run: it is the final answer,
whose text is the submitted patch. `exit_status: submitted` says the run ended, not that the patch
is right, so no label is set unless the file says the issue was resolved.
"""

from __future__ import annotations

from pathlib import Path

import orjson

from curator.importers.base import (
    Context,
    RecordError,
    RecordInfo,
    bad,
    expect,
    kind,
    make_trajectory,
    optional_text,
    read_label,
)
from curator.importers.openai_chat import read_content, tool_calls
from curator.model import Task, ToolCall, Trajectory, Turn

NAME = "sweagent"

SUBMIT = "submit"


def sniff(value) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("trajectory"), list)
        and ("history" in value or "info" in value)
    )


def config(value) -> dict:
    """`replay_config` is an object in some versions and a JSON string in others."""
    if isinstance(value, str):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            return {}
    return value if isinstance(value, dict) else {}


def dig(value, *keys):
    """A value inside nested objects, or None where any level is missing."""
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def task_parts(history: list) -> tuple[str | None, str | None]:
    """The system prompt and the issue (first non-demonstration user message)."""
    system = instruction = None
    for i, message in enumerate(history):
        where = f"history[{i}]"
        expect(message, dict, where, "a message object")
        role = message.get("role")
        if message.get("is_demo") or role not in ("system", "user"):
            continue
        text, _, _ = read_content(message.get("content"), f"{where}.content")
        if role == "system" and system is None and instruction is None:
            system = text
        elif role == "user":
            instruction = text
            break
    return system, instruction


def history_calls(history: list) -> dict[str, list[list[ToolCall]]]:
    """The function calls the model made, by the action text they were rendered as."""
    found: dict[str, list[list[ToolCall]]] = {}
    for i, message in enumerate(history):
        if (
            isinstance(message, dict)
            and message.get("role") == "assistant"
            and isinstance(message.get("action"), str)
            and message.get("tool_calls")
        ):
            calls = tool_calls(message["tool_calls"], f"history[{i}].tool_calls")
            found.setdefault(message["action"], []).append(calls)
    return found


def step_turns(step, where: str, calls_by_action: dict, submission: str | None) -> list[Turn]:
    expect(step, dict, where, "a step object")
    action = expect(step.get("action"), str, f"{where}.action", "the command as text")
    thought = optional_text(step.get("thought"), f"{where}.thought") or ""
    observation = optional_text(step.get("observation"), f"{where}.observation") or ""
    response = optional_text(step.get("response"), f"{where}.response")
    raw = response if response and response.strip() != thought.strip() else None
    command = action.strip()
    if not command:  # the model's output held no command (a format error); the environment said so
        turns = [Turn("assistant", thought=thought, raw=raw)]
        return turns + ([Turn("user", content=observation, name="environment")] if observation else [])
    if command.split()[0] == SUBMIT:
        return [Turn("assistant", thought=thought, content=submission or observation, raw=raw)]
    made = calls_by_action.get(action)
    calls = made.pop(0) if made else [ToolCall(command.split()[0], {"command": action})]
    return [
        Turn("assistant", thought=thought, tool_calls=tuple(calls), raw=raw),
        Turn("tool", content=observation, tool_call_id=calls[0].id, name=calls[0].name),
    ]


def parse(value, ctx: Context, where: str, key: str | None) -> list[Trajectory]:
    if not isinstance(value, dict):
        raise RecordError(f"expected a SWE-agent trajectory object, got {kind(value)}")
    steps = expect(value.get("trajectory"), list, "trajectory", "a list of steps")
    history = expect(value.get("history") or [], list, "history", "a list of messages")
    info = expect(value.get("info") or {}, dict, "info", "an object")
    system, instruction = task_parts(history)
    if instruction is None:
        raise bad("history", "no user message: the issue (the task) is missing")
    submission = optional_text(info.get("submission"), "info.submission")
    calls_by_action = history_calls(history)
    turns = [
        turn
        for i, step in enumerate(steps)
        for turn in step_turns(step, f"trajectory[{i}]", calls_by_action, submission)
    ]

    replay = config(value.get("replay_config"))
    task_id = dig(replay, "problem_statement", "id") or key
    if task_id is None and ctx.path.endswith(".traj"):
        task_id = Path(ctx.path).stem  # SWE-agent names each file <instance_id>.traj
    teacher = dig(replay, "agent", "model", "name") or info.get("model_name")
    record = RecordInfo(
        task_id=str(task_id) if task_id is not None else None,
        teacher=teacher if isinstance(teacher, str) else None,
    )
    if info.get("resolved") is not None:
        read_label(record, info["resolved"], "info.resolved")
    if info.get("exit_status") is not None:
        record.meta["exit_status"] = info["exit_status"]
    task = Task(instruction=instruction, system=system, source_task_id=record.task_id)
    return [make_trajectory(ctx, where, task, turns, record, "trajectory")]
