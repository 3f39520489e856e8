"""Multi-agent histories with human step labels (Who&When: `history` of `{role, name, content}`
with `question`, `is_correct`, `ground_truth`, `mistake_agent`, `mistake_step`, `mistake_reason`;
AutoGen group chats and Magentic-One logs in the same shape).

Every history entry is one step of the run, shown with its agent's name (`Turn.name`):
- an agent's message is an assistant turn;
- the code executor's output (`Computer_terminal`, an `exitcode:` report) is the environment
  answering: a user turn named after it;
- a Magentic-One orchestrator message addressed to a sub-agent (`Orchestrator (-> WebSurfer)`)
  is an action: a call to that agent with the message as its request, answered by the agent's
  next message (the result, paired by id); `Orchestrator (thought)` is the orchestrator's thought.
The task is the record's `question`; the human label is the source failure: `meta.failure` holds
the first faulty step (the step of history entry `mistake_step`), the agent and the reason, so
`bulk fail --source-label failure` records it and the review shows it.
"""

from __future__ import annotations

import re

from curator.importers.base import (
    Context,
    RecordError,
    bad,
    expect,
    kind,
    load_embedded,
    make_trajectory,
    record_info,
    task_instruction,
)
from curator.model import Task, ToolCall, Trajectory, Turn

NAME = "multiagent"

LABEL_KEYS = ("mistake_agent", "mistake_step", "mistake_reason")
ADDRESSED = re.compile(r"\A(?P<agent>.+?)\s*\(\s*->\s*(?P<target>.+?)\s*\)\Z")
THOUGHT = re.compile(r"\A(?P<agent>.+?)\s*\(\s*thought\s*\)\Z", re.IGNORECASE)
ENVIRONMENT = re.compile(r"terminal|executor|computer", re.IGNORECASE)


def sniff(value) -> bool:
    if not isinstance(value, dict):
        return False
    history = value.get("history")
    return (
        isinstance(history, list)
        and bool(history)
        and isinstance(history[0], dict)
        and "content" in history[0]
        and ("name" in history[0] or any(k in value for k in LABEL_KEYS))
    )


def is_environment(name: str, content: str) -> bool:
    return bool(ENVIRONMENT.search(name)) or content.lstrip().startswith("exitcode:")


class History:
    """History entries into turns, remembering which turn each entry became."""

    def __init__(self):
        self.turns: list[Turn] = []
        self.turn_of: list[int] = []  # entry index -> turn index
        self.waiting: dict[str, ToolCall] = {}  # sub-agent -> the orchestrator's open request

    def read(self, history: list) -> None:
        for i, entry in enumerate(history):
            where = f"history[{i}]"
            expect(entry, dict, where, "a message object")
            content = entry.get("content")
            content = content if isinstance(content, str) else "" if content is None else str(content)
            name = entry.get("name") or entry.get("role") or ""
            expect(name, str, f"{where}.name", "the agent's name as text")
            self.entry(i, name.strip(), content)
            self.turn_of.append(len(self.turns) - 1)

    def entry(self, i: int, name: str, content: str) -> None:
        if match := ADDRESSED.match(name):
            call = ToolCall(match["target"], {"request": content}, f"step_{i}")
            self.waiting[match["target"]] = call
            self.turns.append(Turn("assistant", tool_calls=(call,), name=match["agent"]))
        elif match := THOUGHT.match(name):
            self.turns.append(Turn("assistant", thought=content, name=match["agent"]))
        elif name in self.waiting:
            call = self.waiting.pop(name)
            self.turns.append(Turn("tool", content=content, name=name, tool_call_id=call.id))
        elif is_environment(name, content):
            self.turns.append(Turn("user", content=content, name=name))
        else:
            self.turns.append(Turn("assistant", content=content, name=name))

    def step_of(self, entry: int) -> int:
        """The review's step (0-based assistant turn) for a history entry: its own, or the
        agent step the entry answers."""
        turn = self.turn_of[max(0, min(entry, len(self.turn_of) - 1))]
        steps = sum(1 for t in self.turns[: turn + 1] if t.role == "assistant")
        return max(0, steps - 1)


def human_label(record: dict, history: History, info) -> None:
    if not any(record.get(k) is not None for k in LABEL_KEYS):
        return
    # The label names an agent and a reason, no tag of the taxonomy: `other`, as `bulk fail` gives.
    failure = {
        "agent": record.get("mistake_agent"),
        "reason": record.get("mistake_reason"),
        "tags": ["other"],
    }
    step = record.get("mistake_step")
    if step is not None:
        try:
            index = int(step)
        except (TypeError, ValueError):
            raise bad("mistake_step", f"expected a history index, got {kind(step)}") from None
        failure["source_step"] = index
        failure["first_step"] = history.step_of(index)
    info.meta["failure"] = failure
    info.label = info.label or "failure"


def system_prompt(value) -> str | None:
    """Each agent's system prompt (a dict of agent -> prompt, sometimes written as `str(dict)`)."""
    prompts = load_embedded(value, "system_prompt") if value else None
    if isinstance(prompts, dict):
        return "\n\n".join(f"## {agent}\n{prompt}" for agent, prompt in prompts.items()) or None
    return prompts if isinstance(prompts, str) and prompts else None


def parse(value, ctx: Context, where: str, key: str | None) -> list[Trajectory]:
    if not isinstance(value, dict):
        raise RecordError(f"expected a multi-agent history object, got {kind(value)}")
    entries = expect(value.get("history"), list, "history", "a list of messages")
    history = History()
    history.read(entries)
    info = record_info({**value, "task_id": value.get("question_ID", value.get("task_id"))}, key)
    for name in ("ground_truth", "level"):
        if value.get(name) is not None:
            info.meta[name] = value[name]
    human_label(value, history, info)
    task = Task(
        instruction=task_instruction(None, value, info),
        system=system_prompt(value.get("system_prompt")),
        source_task_id=info.task_id,
    )
    return [make_trajectory(ctx, where, task, history.turns, info, "history")]
