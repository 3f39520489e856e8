"""ATIF, Harbor's Agent Trajectory Interchange Format (RFC 0001, v1.0-1.6): one JSON object
`{schema_version: "ATIF-v1.x", session_id, agent {name, version, model_name}, steps, notes,
final_metrics, extra}`.

Each step has a `source`: `system` (the system prompt, or a system event), `user` (the task, then
later user messages) or `agent`: its `message` is the reply, `reasoning_content` the thought,
`tool_calls` `{tool_call_id, function_name, arguments}` the calls, and `observation.results`
`{source_call_id, content}` the results, paired with the calls by id (a result without a call id
answers an action that is not a tool call: a tool turn of its own). A result that delegates to a
sub-agent (`subagent_trajectory_ref`) keeps the reference in the result turn's meta: the
sub-agent's own file imports as its own trajectory. A `message` may be a list of content parts
(text kept, other media marked). Outcome: `reward`/labels in `extra` where a writer puts them.
"""

from __future__ import annotations

from curator.importers.base import (
    Context,
    RecordError,
    RecordInfo,
    as_text,
    assistant_turn,
    bad,
    expect,
    kind,
    make_trajectory,
    normalize_tools,
    parse_arguments,
    read_outcome,
    task_instruction,
)
from curator.importers.openai_chat import read_content
from curator.model import Task, ToolCall, Trajectory, Turn

NAME = "atif"

SOURCES = ("system", "user", "agent")


def sniff(value) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("steps"), list)
        and (str(value.get("schema_version", "")).upper().startswith("ATIF") or "session_id" in value)
    )


def text(value, name: str) -> str:
    """A step's `message`: text, or content parts (ATIF 1.6 multimodal)."""
    if isinstance(value, list):
        value = [
            {**p, "type": "text"} if isinstance(p, dict) and p.get("type") == "input_text" else p
            for p in value
        ]
    content, _, _ = read_content(value, name)
    return content


def calls(value, name: str) -> list[ToolCall]:
    out = []
    for i, call in enumerate(expect(value or [], list, name, "a list of tool calls")):
        where = f"{name}[{i}]"
        expect(call, dict, where, "a tool call object")
        function = expect(call.get("function_name"), str, f"{where}.function_name", "the tool's name as text")
        call_id = call.get("tool_call_id")
        out.append(
            ToolCall(
                function,
                parse_arguments(call.get("arguments")),
                call_id if isinstance(call_id, str) else None,
            )
        )
    return out


def results(observation, made: list[ToolCall], name: str) -> list[Turn]:
    if observation is None:
        return []
    expect(observation, dict, name, "an observation object")
    by_id = {c.id: c for c in made if c.id is not None}
    out = []
    for i, result in enumerate(expect(observation.get("results") or [], list, f"{name}.results", "a list")):
        where = f"{name}.results[{i}]"
        expect(result, dict, where, "a result object")
        call = by_id.get(result.get("source_call_id"))
        meta = (
            {"subagent_trajectory_ref": result["subagent_trajectory_ref"]}
            if result.get("subagent_trajectory_ref")
            else {}
        )
        out.append(
            Turn(
                "tool",
                content=as_text(result.get("content")),
                tool_call_id=call.id if call else result.get("source_call_id"),
                name=call.name if call else None,
                meta=meta,
            )
        )
    return out


class Steps:
    def __init__(self):
        self.system_parts: list[str] = []
        self.instruction: str | None = None
        self.turns: list[Turn] = []
        self.models: list[str] = []

    def read(self, steps: list) -> None:
        for i, step in enumerate(steps):
            where = f"steps[{i}]"
            expect(step, dict, where, "a step object")
            source = step.get("source")
            if source not in SOURCES:
                raise bad(f"{where}.source", f"expected one of {', '.join(SOURCES)}, got {source!r}")
            message = text(step.get("message"), f"{where}.message")
            getattr(self, source)(step, message, where)

    def system(self, step: dict, message: str, where: str) -> None:
        if not self.turns and self.instruction is None:
            self.system_parts.append(message)
        elif message:
            self.turns.append(Turn("user", content=message, name="system"))
        self.turns += results(step.get("observation"), [], f"{where}.observation")

    def user(self, step: dict, message: str, where: str) -> None:
        if not self.turns:  # the task: the user's words before the agent's first step
            self.instruction = f"{self.instruction}\n\n{message}" if self.instruction else message
        else:
            self.turns.append(Turn("user", content=message))

    def agent(self, step: dict, message: str, where: str) -> None:
        made = calls(step.get("tool_calls"), f"{where}.tool_calls")
        thought = step.get("reasoning_content") if isinstance(step.get("reasoning_content"), str) else ""
        self.turns.append(assistant_turn(thought, message, made))
        self.turns += results(step.get("observation"), made, f"{where}.observation")
        if isinstance(step.get("model_name"), str):
            self.models.append(step["model_name"])


def parse(value, ctx: Context, where: str, key: str | None) -> list[Trajectory]:
    if not isinstance(value, dict):
        raise RecordError(f"expected an ATIF trajectory object, got {kind(value)}")
    steps = Steps()
    steps.read(expect(value.get("steps"), list, "steps", "a list of steps"))
    agent = value.get("agent") if isinstance(value.get("agent"), dict) else {}
    info = RecordInfo(meta={"session_id": value.get("session_id")})  # a run's id, not a task's
    info.teacher = agent.get("model_name") if isinstance(agent.get("model_name"), str) else None
    info.teacher = info.teacher or (steps.models[0] if steps.models else None)
    read_outcome(info, value)
    if isinstance(value.get("extra"), dict):
        read_outcome(info, value["extra"], "extra.")
    for name in ("schema_version", "notes"):
        if value.get(name):
            info.meta[name] = value[name]
    if agent.get("name"):
        info.meta["agent"] = {k: agent[k] for k in ("name", "version") if k in agent}
    task = Task(
        instruction=task_instruction(steps.instruction, None, info),
        system="\n\n".join(steps.system_parts) or None,
        tools=normalize_tools(agent.get("tool_definitions"), "agent.tool_definitions"),
        source_task_id=info.task_id,
    )
    return [make_trajectory(ctx, where, task, steps.turns, info, "steps")]
