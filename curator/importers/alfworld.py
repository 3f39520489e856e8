"""ALFWorld ReAct transcripts (the ReAct repo's `alfworld_*prompts.json`, run logs): the
environment's opening (`You are in the middle of a room. ... Your task is to: ...`), then action
lines `> go to fridge 1`, each followed by the environment's observation lines; `> think: ...`
is a thought (the environment answers `OK.`, kept in the step's meta).

An action is a tool call named after its verb (`go`, `open`, `take`, ...) with the whole command
as `{"command": ...}`, as SWE-agent commands are read; the observation is its result. A text holds
one episode or several (each starts at `You are in the middle of a room`); where a prompt says
`Here is the task.`, what comes before (instructions and example episodes) is the prompt the model
saw, the system prompt, and the episode after it is the run.
"""

from __future__ import annotations

import re

from curator.importers.base import Context, RecordError, RecordInfo, join, kind, make_trajectory
from curator.model import Task, ToolCall, Trajectory, Turn

NAME = "alfworld"

ACTION = re.compile(r"^>[ \t]?(?P<action>.*)$", re.MULTILINE)
THINK = re.compile(r"\Athink:[ \t]*", re.IGNORECASE)
EPISODE = re.compile(r"^[ \t]*You are in the middle of a room", re.MULTILINE)
THE_TASK = re.compile(r"^[ \t]*Here is the task[.:]?[ \t]*$", re.MULTILINE | re.IGNORECASE)
ACKS = {"ok.", "ok"}


def sniff(value) -> bool:
    return isinstance(value, str) and "Your task is to:" in value and len(ACTION.findall(value)) >= 2


def episodes(text: str) -> tuple[str, list[str]]:
    """The prompt before the run (if the text says where the task starts) and the episodes."""
    prompt = ""
    if match := list(THE_TASK.finditer(text)):
        prompt, text = text[: match[-1].start()].strip(), text[match[-1].end() :]
        return prompt, [text]
    starts = [m.start() for m in EPISODE.finditer(text)]
    if len(starts) <= 1:
        return text[: starts[0]].strip() if starts else "", [text[starts[0] :] if starts else text]
    return text[: starts[0]].strip(), [
        text[a:b] for a, b in zip(starts, [*starts[1:], len(text)], strict=True)
    ]


def episode_turns(text: str) -> tuple[str, list[Turn]]:
    """The opening (the task) and the turns of one episode."""
    actions = list(ACTION.finditer(text))
    if not actions:
        raise RecordError("no action lines ('> ...') in the episode")
    task = text[: actions[0].start()].strip()
    turns: list[Turn] = []
    thoughts: list[str] = []
    acks: list[str] = []
    for i, match in enumerate(actions):
        action = match["action"].strip()
        end = actions[i + 1].start() if i + 1 < len(actions) else len(text)
        observation = text[match.end() : end].strip()
        if THINK.match(action):
            thoughts.append(THINK.sub("", action))
            if observation:
                acks.append(observation)
            continue
        call = ToolCall(action.split()[0] if action else "", {"command": action}, f"step_{i}")
        meta = {"acks": acks} if acks else {}
        turns.append(Turn("assistant", thought=join(*thoughts), tool_calls=(call,), meta=meta))
        turns.append(Turn("tool", content=observation, name=call.name, tool_call_id=call.id))
        thoughts, acks = [], []
    if thoughts:
        turns.append(Turn("assistant", thought=join(*thoughts), meta={"acks": acks} if acks else {}))
    return task, turns


def parse(value, ctx: Context, where: str, key: str | None) -> list[Trajectory]:
    if not isinstance(value, str):
        raise RecordError(f"expected an ALFWorld transcript, got {kind(value)}")
    prompt, found = episodes(value)
    single = len(found) == 1
    out = []
    for n, text in enumerate(found, start=1):
        task_text, turns = episode_turns(text)
        info = RecordInfo()
        task = Task(instruction=task_text, system=prompt or None, source_task_id=key if single else None)
        out.append(
            make_trajectory(ctx, where if single else f"{where}, episode {n}", task, turns, info, "text")
        )
    return out
