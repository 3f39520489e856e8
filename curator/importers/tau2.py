"""tau2-bench result files (`data/simulations/*.json`): `{info, tasks, simulations}`; each
simulation has `task_id`, `trial`, `termination_reason`, `reward_info.reward` and `messages`
(roles `assistant`, `user`, `tool`; calls `{id, name, arguments, requestor}` beside the text;
tool messages `{id, content, requestor, error}` answer the call with that id).

The agent speaks first (a greeting), so the conversation has no task message before its first
step: the shared rule (`base.task_instruction`) leaves the task text empty and every message a
turn. The simulated user also calls tools of its own (`requestor: user`, the telecom domain's
phone): the agent never sees those calls or their results, so they are kept in the metadata of
the user turn they belong to, never rendered as the agent's steps. One trajectory per simulation.
"""

from __future__ import annotations

import dataclasses

import orjson

from curator.importers.base import (
    Context,
    RecordError,
    expect,
    kind,
    make_trajectory,
    normalize_tools,
    record_info,
    task_instruction,
    with_end,
)
from curator.importers.files import Bad, raw_excerpt
from curator.importers.openai_chat import read_chat
from curator.model import Task, Trajectory, Turn

NAME = "tau2"


def sniff(value) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("simulations"), list)
        and ("tasks" in value or "info" in value)
    )


def split_user_tools(messages: list, name: str) -> tuple[list[dict], dict[int, list]]:
    """The agent's view (OpenAI chat messages) and, by index into it, the simulated user's own
    tool activity to keep beside the user turn it belongs to."""
    chat: list[dict] = []
    side: dict[int, list] = {}
    for i, message in enumerate(messages):
        expect(message, dict, f"{name}[{i}]", "a message object")
        own = message.get("requestor") == "user" or (
            message.get("role") == "user" and message.get("tool_calls")
        )
        if own:  # the simulated user's calls (and their results), with the message after them
            side.setdefault(len(chat), []).append(
                {k: message.get(k) for k in ("role", "tool_calls", "id") if message.get(k) is not None}
                | ({"content": message["content"]} if message.get("role") == "tool" else {})
            )
        if not own or (message.get("role") == "user" and message.get("content")):
            chat.append(agent_message(message))
    return chat, side


def agent_message(message: dict) -> dict:
    out = {"role": message.get("role"), "content": message.get("content")}
    if message.get("role") == "tool":
        out["tool_call_id"] = message.get("id")
    calls = [c for c in message.get("tool_calls") or () if c.get("requestor", "assistant") == "assistant"]
    if calls:
        out["tool_calls"] = [
            {
                "id": c.get("id"),
                "type": "function",
                "function": {"name": c.get("name"), "arguments": c.get("arguments")},
            }
            for c in calls
        ]
    return out


def setting(value: dict) -> tuple[str | None, str | None, tuple[dict, ...]]:
    """The agent's system prompt (the domain policy), model and tools, from the file's `info`."""
    info = value.get("info") if isinstance(value.get("info"), dict) else {}
    environment = info.get("environment_info") if isinstance(info.get("environment_info"), dict) else {}
    agent = info.get("agent_info") if isinstance(info.get("agent_info"), dict) else {}
    policy = environment.get("policy")
    model = agent.get("llm")
    tools = normalize_tools(environment.get("tool_defs"), "info.environment_info.tool_defs")
    return (
        policy if isinstance(policy, str) and policy else None,
        model if isinstance(model, str) and model else None,
        tools,
    )


def simulation(sim, ctx: Context, where: str, system, model, tools) -> Trajectory:
    expect(sim, dict, where, "a simulation object")
    messages = expect(sim.get("messages"), list, f"{where}.messages", "a list of messages")
    chat_messages, side = split_user_tools(messages, f"{where}.messages")
    chat = read_chat(chat_messages, f"{where}.messages")
    turns = attach(chat.turns, side, len(chat_messages))
    info = with_end(record_info(sim, None), chat.end)
    info.teacher = info.teacher or model
    for name in ("trial", "seed"):
        if sim.get(name) is not None:
            info.meta[name] = sim[name]
    task = Task(
        instruction=task_instruction(chat.instruction, None, info),
        system=system,
        tools=tools,
        source_task_id=info.task_id,
    )
    return make_trajectory(ctx, where, task, turns, info, f"{where}.messages")


def attach(turns: list[Turn], side: dict[int, list], n_messages: int) -> list[Turn]:
    """Put the simulated user's tool activity in the meta of the turn of the message after it
    (or the last turn, when the conversation ends with it). Past the messages the task took,
    turns and chat messages align one to one: tau2 writes no ReAct text."""
    out = list(turns)
    offset = n_messages - len(turns)
    for index, activity in sorted(side.items()):
        target = max(0, min(index - offset, len(out) - 1))
        meta = out[target].meta
        out[target] = dataclasses.replace(
            out[target], meta={**meta, "user_tool_activity": meta.get("user_tool_activity", []) + activity}
        )
    return out


def parse(value, ctx: Context, where: str, key: str | None) -> list[Trajectory | Bad]:
    """Each simulation on its own: a bad one is quarantined, the others import."""
    if not isinstance(value, dict):
        raise RecordError(f"expected a tau2 results object, got {kind(value)}")
    sims = expect(value.get("simulations"), list, "simulations", "a list of simulations")
    out: list[Trajectory | Bad] = []
    system, model, tools = setting(value)
    for i, sim in enumerate(sims):
        name = f"simulations[{i}]"
        try:
            out.append(simulation(sim, ctx, name, system, model, tools))
        except RecordError as exc:
            out.append(Bad(f"{where}, {name}", str(exc), raw_excerpt(orjson.dumps(sim, default=str))))
    return out
